"""``rsmooth`` command line: thin commands over the library (heavy imports inside commands)."""

from __future__ import annotations

import sys

import typer

from rsmooth.cli import bench, plot, report, sweep, train  # noqa: F401  (register the commands)
from rsmooth.cli.app import app
from rsmooth.errors import EXIT_USAGE, RsmoothError

try:  # recent typer vendors click as typer._click; older typer uses click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError
Abort = typer.Abort


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors (bad flag, bad value) as one line with exit code 2."""
    try:
        code = app(args=argv, prog_name="rsmooth", standalone_mode=False)
    except UsageError as err:
        hint = f" (see: rsmooth {err.ctx.info_name if err.ctx else ''} --help)".replace("  ", " ")
        print(f"rsmooth: error: {err.format_message()}{hint}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except RsmoothError as err:
        print(f"rsmooth: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except Abort:
        print("rsmooth: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]

"""``rsmooth`` command line: thin commands over the library.

``main`` loads what the commands need before building them (the registered parts and the
plugins, so that `train --help` lists every name and every plugin's fields), runs the
command, and turns every user error into one line on stderr with its documented exit code
(rsmooth.errors), never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from rsmooth import interrupt
from rsmooth.errors import EXIT_INTERRUPTED, EXIT_USAGE, RsmoothError


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rsmooth`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    interrupt.install()  # Ctrl-C and SIGTERM: a resumable stop
    try:
        code = _run(args)
    except RsmoothError as err:  # interrupt.Interrupted too: a command's own resume hint
        _fail(str(err), err.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail(str(interrupt.Interrupted()), EXIT_INTERRUPTED)
    except Exception as err:
        if not _is_usage_error(err):
            raise
        message = err.format_message()  # type: ignore[attr-defined]
        if not message:  # bare `rsmooth` or a bare group: its help was printed
            sys.exit(EXIT_USAGE)
        ctx = getattr(err, "ctx", None)
        command = getattr(ctx, "command_path", "rsmooth")
        _fail(f"{message} (see: {command} --help)", EXIT_USAGE)
    if code == EXIT_INTERRUPTED:
        # Typer catches a KeyboardInterrupt that leaves a command and, outside its standalone
        # mode, returns 130 instead of raising: the stop arrives here as a bare exit code.
        _fail(str(interrupt.Interrupted()), EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


def _run(args: list[str]) -> Any:
    if args[:1] == ["train"]:
        from rsmooth.parts import load_parts
        from rsmooth.plugins import load_plugins

        # Before `train` is built: its help lists the registered names (the installed plugins'
        # too), and the config fields of the --plugin modules are flags of it.
        load_parts()
        load_plugins(_plugin_flags(args))
    from rsmooth.cli import bench, export, plot, report, sweep, train  # noqa: F401  (commands)
    from rsmooth.cli.app import app

    return app(args=args, prog_name="rsmooth", standalone_mode=False)


def _plugin_flags(args: list[str]) -> list[str]:
    """The modules named by ``--plugin MODULE`` / ``--plugin=MODULE``, in order."""
    names = []
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--plugin" and i + 1 < len(args):
            names.append(args[i + 1])
        elif arg.startswith("--plugin="):
            names.append(arg.partition("=")[2])
    return names


def _is_usage_error(err: Exception) -> bool:
    """Click's usage errors (bad flag, bad value, missing argument), recognised by their public
    interface: Typer vendors its own Click, whose classes are not part of its API."""
    return callable(getattr(err, "format_message", None)) and getattr(err, "exit_code", 0) == 2


def _fail(message: str, code: int) -> None:
    print(f"rsmooth: error: {message}", file=sys.stderr)
    sys.exit(code)


__all__ = ["main"]

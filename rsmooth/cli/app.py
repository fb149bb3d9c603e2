"""The Typer application; each command lives in its own module and registers itself here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from rsmooth.errors import RsmoothError

app = typer.Typer(
    name="rsmooth",
    help="Adaptive regularization via residual smoothing: train, sweep, report, plot, bench.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an RsmoothError into one line on stderr and its exit code (2), no traceback."""
    try:
        yield
    except RsmoothError as err:
        print(f"rsmooth: error: {err}", file=sys.stderr)
        raise typer.Exit(err.exit_code) from None

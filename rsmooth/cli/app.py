"""The Typer application; each command lives in its own module and registers itself here."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="rsmooth",
    help="Adaptive regularization via residual smoothing: train, sweep, report, plot, bench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Docstrings are wrapped at 100 columns in the code; markdown mode joins the lines of a
    # paragraph, so help text fills the terminal instead of breaking where the source did.
    rich_markup_mode="markdown",
)


def _show_version(value: bool) -> None:
    if not value:
        return
    import torch

    from rsmooth import __version__

    cuda = (
        f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s): "
        + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        if torch.cuda.is_available()
        else "CUDA not available"
    )
    typer.echo(f"rsmooth {__version__} (torch {torch.__version__}; {cuda})")
    raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Show rsmooth's and torch's versions and whether CUDA is available, then exit.",
        ),
    ] = False,
) -> None:
    """Adaptive regularization via residual smoothing: train, sweep, report, plot, bench.

    Exit codes: 0 done, 2 invalid input (nothing written), 3 a run diverged, 4 a run failed
    after it started (its checkpoint is intact), 130 interrupted (resumable).
    """

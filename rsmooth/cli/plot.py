"""``rsmooth plot``: the paper's figures from run folders, PNG and PDF (docs/report.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir
from rsmooth.errors import ConfigError

if TYPE_CHECKING:
    from rsmooth.report.aggregate import Configuration

plot_app = typer.Typer(
    name="plot",
    help="Figures of the paper (Figs. 1-2, 4, 5-6) as PNG and PDF.",
    no_args_is_help=True,
)
app.add_typer(plot_app, name="plot")

Dirs = Annotated[list[Path], typer.Argument(help="Folders of run folders, searched recursively.")]
Metric = Annotated[str, typer.Option(help="max or mean: picks the best of a grid.")]
Select = Annotated[
    str,
    typer.Option(
        help="The split the best of a grid is chosen on: val (the test split, the paper's "
        "protocol) or holdout (the runs' held-out training images)."
    ),
]
Out = Annotated[
    str | None, typer.Option(help="Folder for the figures.", show_default="the first DIR")
]


def _configurations(dirs: list[Path], metric: str) -> list[Configuration]:
    """The configurations of the runs under ``dirs``; the runs that cannot be drawn from
    (damaged, or foreign to their folder's layout) are listed on stderr, and the rest drawn."""
    from rsmooth.report.aggregate import METRICS, group_runs
    from rsmooth.runfolder import FOREIGN, UNREADABLE, read_results

    if metric not in METRICS:
        raise ConfigError("metric", metric, METRICS)
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError("DIR", str(folder), "an existing folder of run folders")
    runs = read_results(dirs)
    for run in runs:
        if run.status in (UNREADABLE, FOREIGN):
            typer.echo(f"not drawn: {run.path} ({run.status}: {run.reason})", err=True)
    return group_runs(runs, dirs)  # the roots: a sweep's confirm/ runs are their own stage


def _out(out: str | None, dirs: list[Path]) -> Path:
    """The figures' folder, checked before any run folder is read."""
    return check_output_dir(out, "--out") if out is not None else dirs[0]


def _written(paths: list[Path]) -> None:
    for path in paths:
        typer.echo(f"wrote {path}")


@plot_app.command("curves")
def curves(dirs: Dirs, out: Out = None, metric: Metric = "max", select: Select = "val") -> None:
    """Figs. 5-6: validation accuracy (red; held-out accuracy dotted, where runs hold some
    out), training and test loss (blue, green) vs epoch; a row per data set, a column per
    method (its confirmed winner, else the best of its grid); mean over trials, min-max band."""
    from rsmooth.plot.curves import plot_curves
    from rsmooth.report.aggregate import SELECT_SPLITS

    if select not in SELECT_SPLITS:
        raise ConfigError("select", select, SELECT_SPLITS)
    folder = _out(out, dirs)
    _written(plot_curves(_configurations(dirs, metric), folder, metric, select))


@plot_app.command("sweep")
def sweep(dirs: Dirs, out: Out = None, metric: Metric = "max") -> None:
    """Fig. 4: accuracy vs the annealing scale b (laplace blue, logistic red, SGD black); a
    panel per training ratio; error bars over trials."""
    from rsmooth.plot.sweep import plot_sweep

    folder = _out(out, dirs)
    _written(plot_sweep(_configurations(dirs, metric), folder, metric))


@plot_app.command("schedule")
def schedule(
    out: Annotated[str, typer.Option(help="Folder for schedule-*.png/.pdf.")] = ".",
) -> None:
    """Figs. 1-2: the diffusivity sigmoid S(x; s, alpha) and the annealing s(u) for several b."""
    from rsmooth.plot.schedule import plot_schedule

    _written(plot_schedule(check_output_dir(out, "--out")))

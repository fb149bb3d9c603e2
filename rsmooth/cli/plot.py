"""``rsmooth plot``: the paper's figures from run folders, PNG and PDF (docs/report.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rsmooth.cli.app import app, user_errors
from rsmooth.errors import ConfigError

plot_app = typer.Typer(
    name="plot",
    help="Figures of the paper (Figs. 1-2, 4, 5-6) as PNG and PDF.",
    no_args_is_help=True,
)
app.add_typer(plot_app, name="plot")

DIRS = typer.Argument(..., help="folders of run folders, searched recursively")
METRIC = typer.Option("max", "--metric", help="max or mean: picks the best of a grid")


def _out(out: Path | None, dirs: list[Path]) -> Path:
    return out if out is not None else dirs[0]


def _configurations(dirs: list[Path], metric: str):
    from rsmooth.report.aggregate import METRICS, group_runs
    from rsmooth.report.runs import read_runs

    if metric not in METRICS:
        raise ConfigError("metric", metric, METRICS)
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError("DIR", str(folder), "an existing folder of run folders")
    return group_runs(read_runs(dirs))


def _written(paths: list[Path]) -> None:
    for path in paths:
        typer.echo(f"wrote {path}")


@plot_app.command(
    "curves",
    help="Figs. 5-6: validation accuracy (red), training and test loss (blue, green) vs epoch; "
    "a row per data set, a column per method; mean over trials, min-max band.",
)
def curves(
    dirs: list[Path] = DIRS,
    out: Optional[Path] = typer.Option(  # noqa: UP045  (Typer reads the runtime annotation)
        None, "--out", help="folder for curves-<model>.png/.pdf (default: the first DIR)"
    ),
    metric: str = METRIC,
) -> None:
    with user_errors():
        from rsmooth.plot.curves import plot_curves

        _written(plot_curves(_configurations(dirs, metric), _out(out, dirs), metric))


@plot_app.command(
    "sweep",
    help="Fig. 4: accuracy vs the annealing scale b (laplace blue, logistic red, SGD black); "
    "a panel per training ratio; error bars over trials.",
)
def sweep(
    dirs: list[Path] = DIRS,
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", help="folder for sweep-<model>-<data>.png/.pdf (default: the first DIR)"
    ),
    metric: str = METRIC,
) -> None:
    with user_errors():
        from rsmooth.plot.sweep import plot_sweep

        _written(plot_sweep(_configurations(dirs, metric), _out(out, dirs), metric))


@plot_app.command(
    "schedule",
    help="Figs. 1-2: the diffusivity sigmoid S(x; s, alpha) and the annealing s(u) for several b.",
)
def schedule(
    out: Path = typer.Option(Path("."), "--out", help="folder for schedule-*.png/.pdf"),
) -> None:
    with user_errors():
        from rsmooth.plot.schedule import plot_schedule

        _written(plot_schedule(out))

"""``rsmooth report``: tables of run folders (docs/report.md): Markdown, LaTeX or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir

Dirs = Annotated[
    list[Path],
    typer.Argument(
        help="Folders of run folders, searched recursively (any folder with config.yaml)."
    ),
]


@app.command()
def report(
    dirs: Dirs,
    paper: Annotated[
        bool, typer.Option("--paper", help="Show the published numbers of Tables 1-3 beside ours.")
    ] = False,
    out: Annotated[
        str | None,
        typer.Option(help="Folder for report.md, report.csv (report.tex).", show_default="DIR"),
    ] = None,
    metric: Annotated[
        str, typer.Option(help="max or mean: the number compared (and chosen on).")
    ] = "max",
    select: Annotated[
        str,
        typer.Option(
            help="Split the best of each grid is chosen on: val (the test split, the paper's "
            "protocol) or holdout (the runs' held-out training images). Reported numbers are "
            "always the test split's."
        ),
    ] = "val",
    interval: Annotated[
        str, typer.Option(help="What ± shows: ci95 (95% t-interval) or std.")
    ] = "ci95",
    format: Annotated[str, typer.Option(help="What to print: md, csv or latex.")] = "md",
) -> None:
    """Group runs over seeds; compare each method, the best of its grid, with tuned SGD: the
    difference, its 95% interval, Welch's p and Holm's adjustment; lay out the paper's tables.

    Confirmation runs of a sweep (confirm/) are the headline. Safe while a sweep is still
    writing: unfinished, diverged and unreadable runs are listed, never counted.
    """
    from rsmooth.errors import ConfigError
    from rsmooth.report import FORMATS, build_report, render, write_report

    if format not in FORMATS:
        raise ConfigError("format", format, FORMATS)
    out_dir = check_output_dir(out, "--out") if out is not None else None
    result = build_report(dirs, metric=metric, paper=paper, select=select, interval=interval)
    typer.echo(render(result, format), nl=False)
    formats = ("md", "csv", "latex") if format == "latex" else ("md", "csv")
    paths = write_report(result, out_dir or dirs[0], formats)
    typer.echo("wrote " + ", ".join(str(p) for p in paths), err=True)

"""``rsmooth report``: tables of run folders (docs/report.md): Markdown, report.md, report.csv."""

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
        typer.Option(help="Folder for report.md and report.csv.", show_default="the first DIR"),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(help="max or mean: picks the best of a grid and the numbers compared."),
    ] = "max",
) -> None:
    """Group runs over seeds; tabulate max and mean accuracy with 95% intervals, the paper's
    tables and the differences from SGD.

    Safe while a sweep is still writing: unfinished, diverged and unreadable runs are listed
    under the tables, never counted.
    """
    from rsmooth.report import build_report, to_markdown, write_report

    out_dir = check_output_dir(out, "--out") if out is not None else None
    result = build_report(dirs, metric=metric, paper=paper)
    typer.echo(to_markdown(result), nl=False)
    md_path, csv_path = write_report(result, out_dir or dirs[0])
    typer.echo(f"wrote {md_path} and {csv_path}", err=True)

"""``rsmooth report``: tables of run folders (docs/report.md): Markdown, report.md, report.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rsmooth.cli.app import app, user_errors


@app.command(
    help="Group runs over seeds; tabulate max and mean accuracy with 95% intervals, the paper's "
    "tables and the significance of differences from SGD. Safe while a sweep is still writing: "
    "unfinished, diverged and unreadable runs are listed under the tables, never counted."
)
def report(
    dirs: list[Path] = typer.Argument(
        ..., help="folders of run folders, searched recursively (any folder with a config.yaml)"
    ),
    paper: bool = typer.Option(
        False, "--paper", help="show the published numbers of Tables 1-3 and ours - paper"
    ),
    out: Optional[Path] = typer.Option(  # noqa: UP045  (Typer reads the runtime annotation)
        None, "--out", help="folder for report.md and report.csv (default: the first DIR)"
    ),
    metric: str = typer.Option(
        "max",
        "--metric",
        help="max or mean: picks the best of a grid and the numbers of the significance test",
    ),
) -> None:
    with user_errors():
        from rsmooth.report import build_report, to_markdown, write_report

        result = build_report(dirs, metric=metric, paper=paper)
        typer.echo(to_markdown(result), nl=False)
        md_path, csv_path = write_report(result, out if out is not None else dirs[0])
        typer.echo(f"wrote {md_path} and {csv_path}", err=True)

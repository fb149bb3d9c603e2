"""``rsmooth report``: tables of run folders (docs/report.md): Markdown, LaTeX or CSV."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir
from rsmooth.errors import RsmoothError

Dirs = Annotated[
    list[Path],
    typer.Argument(
        help="Folders of run folders, searched recursively (any folder with config.yaml)."
    ),
]

Cost = Annotated[
    bool,
    typer.Option(
        "--cost",
        help="Add what each row cost to train: gradient evaluations per step, training "
        "images, median seconds per epoch, total gradient evaluations.",
    ),
]
HeadingLevel = Annotated[
    int,
    typer.Option(
        min=1,
        max=4,
        help="Markdown: the level of the report's title (its sections one below), to "
        "paste it under a document's own headings.",
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
    cost: Cost = False,
    heading_level: HeadingLevel = 1,
    test: Annotated[
        str,
        typer.Option(
            help="How a difference is tested: paired (over the seeds, where both sides ran the "
            "same ones: one seed draws the same images for every method; else Welch) or welch."
        ),
    ] = "paired",
) -> None:
    """Group runs over seeds; compare each method, the best of its grid, with its baseline
    (tuned SGD, or the plain form of its own optimizer) and, where it took more gradient
    evaluations, with SGD at equal compute: the difference, its 95% interval, its p (paired
    over the seeds, or Welch's) and Holm's adjustment; say how sure each choice is; lay out
    the paper's tables.

    Confirmation runs of a sweep (confirm/) are the headline. Safe while a sweep is still
    writing: unfinished, diverged and unreadable runs are listed, never counted.
    """
    from rsmooth.errors import ConfigError
    from rsmooth.report import FORMATS, build_report, write_report

    if format not in FORMATS:
        raise ConfigError("format", format, FORMATS)
    out_dir = check_output_dir(out, "--out") if out is not None else _default_out(dirs[0])
    result = build_report(
        dirs, metric=metric, paper=paper, select=select, interval=interval, cost=cost, test=test
    )
    formats = ("md", "csv", "latex") if format == "latex" else ("md", "csv")
    paths = write_report(result, out_dir, formats, heading_level)  # first: a failure prints none
    # stdout holds the report and nothing else: the very text of the file just written
    typer.echo(paths[formats.index(format)].read_text(encoding="utf-8"), nl=False)
    typer.echo("wrote " + ", ".join(str(p) for p in paths), err=True)


def _default_out(folder: Path) -> Path:
    """The first DIR, where the report goes without --out: refused before any run is read
    when it cannot be written (a read-only results folder)."""
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise RsmoothError(
            f"cannot write the report into {folder} (not writable); choose another folder "
            "with --out DIR"
        )
    return folder

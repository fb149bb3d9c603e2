"""``rsmooth export``: run folders to other tools (docs/report.md, "Export")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir
from rsmooth.errors import ConfigError

export_app = typer.Typer(
    name="export",
    help="Run folders to other tools (TensorBoard) and to a results tree (records).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


@export_app.command("tensorboard")
def tensorboard(
    dirs: Annotated[
        list[Path],
        typer.Argument(help="Folders of run folders, searched recursively (or run folders)."),
    ],
    out: Annotated[str, typer.Option(help="Folder for the TensorBoard runs.")],
) -> None:
    """Each run folder as a TensorBoard run: every numeric metric per epoch, the config as
    hyperparameters with the run's final numbers. Works on finished, running and old runs;
    exporting again replaces a run's events. Needs `pip install 'rsmooth[tensorboard]'`.
    """
    from rsmooth.export.tensorboard import export_tensorboard, import_writer

    folder = check_output_dir(out, "--out")
    for path in dirs:
        if not path.is_dir():
            raise ConfigError("DIR", str(path), "an existing folder of run folders")
    import_writer()  # the install hint before anything is read
    exported = export_tensorboard(dirs, folder)
    for run in exported.unreadable:
        typer.echo(f"not exported: {run.path}: {run.reason}", err=True)
    if not exported.folders:
        raise ConfigError("DIR", ", ".join(map(str, dirs)), "folders holding run folders")
    typer.echo(
        f"wrote {len(exported.folders)} runs to {folder}; view them: tensorboard --logdir {folder}"
    )


@export_app.command("records")
def records(
    source: Annotated[Path, typer.Argument(help="A sweep's out folder (or any run folders).")],
    out: Annotated[str, typer.Option(help="The results tree to copy the records into.")],
) -> None:
    """The records of the finished runs (completed, diverged): config.yaml, metrics.jsonl,
    summary.json, and the sweep's confirm/selection.json and plans; never checkpoints; in the
    sweep's layout under OUT. Runs still training are left out; a record already under OUT is only
    ever replaced by the same one. Imports no torch.
    """
    from rsmooth.export.records import export_records

    folder = check_output_dir(out, "--out")
    if not source.is_dir():
        raise ConfigError("SOURCE", str(source), "an existing folder of run folders")
    copied = export_records(source, folder)
    for run in copied.skipped:
        typer.echo(f"left out (not finished): {run.path}: {run.status}", err=True)
    typer.echo(
        f"copied {len(copied.runs)} records into {folder} ({len(copied.same)} already there, "
        f"{len(copied.skipped)} runs not finished)"
    )

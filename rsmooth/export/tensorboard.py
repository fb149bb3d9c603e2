"""Run folders as TensorBoard runs: every numeric key of metrics.jsonl as a scalar per epoch,
and the config as hyperparameters with the run's final numbers (the HParams dashboard).

An export reads the run folder's files, so it works on finished, running and old runs, and
the engine stays free of the optional dependency (docs/report.md, "TensorBoard"). The writer
is PyTorch's documented ``torch.utils.tensorboard.SummaryWriter``, which needs the
``tensorboard`` package (``pip install 'rsmooth[tensorboard]'``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.errors import RsmoothError
from rsmooth.runfolder import CONFIG, PAPER_METRICS, SPLITS, Run, read_runs

EVENTS = "events.out.tfevents.*"  # the writer's files; an export replaces a run's own


@dataclass(frozen=True)
class Exported:
    folders: list[Path]  # one TensorBoard run folder per exported run folder
    unreadable: list[Run]  # run folders whose config cannot be read: not exported


def import_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RsmoothError(
            "rsmooth export tensorboard needs TensorBoard: pip install 'rsmooth[tensorboard]' "
            "(or pip install tensorboard)"
        ) from None
    return SummaryWriter


def export_tensorboard(roots: Iterable[Path], out_dir: Path) -> Exported:
    """Every run folder under ``roots`` into ``out_dir/<root name>/<its path below the root>``,
    the name TensorBoard shows; exporting again replaces what the last export wrote."""
    writer_class = import_writer()
    roots = [Path(r) for r in roots]
    folders, unreadable = [], []
    for root in roots:
        for run in read_runs([root]):
            if run.config is None:
                unreadable.append(run)
                continue
            folder = out_dir / tensorboard_name(run.path, root)
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob(EVENTS):
                old.unlink()
            with writer_class(log_dir=str(folder)) as writer:
                _write(writer, run)
            folders.append(folder)
    return Exported(folders, unreadable)


def tensorboard_name(path: Path, root: Path) -> str:
    """``quick/sgd/seed=0`` for the run ``runs/quick/sgd/seed=0`` under the root ``runs/quick``."""
    below = path.relative_to(root)
    return str(Path(root.resolve().name) / below)


def _write(writer: Any, run: Run) -> None:
    # Wall time: the run's start (config.yaml is written once, before training) plus its
    # training seconds, so TensorBoard's time axes show the run's pace, not the export's.
    walltime = (run.path / CONFIG).stat().st_mtime
    for record in run.metrics:
        walltime += _number(record.get("epoch_seconds")) or 0.0
        for key, value in record.items():
            number = _number(value)
            if key != "epoch" and number is not None:
                writer.add_scalar(key, number, record["epoch"], walltime=walltime)
    # run_name ".": the hyperparameters go into this run's folder, not a new run of their own.
    writer.add_hparams(
        hyperparameters(run), final_metrics(run), run_name=".", global_step=run.epochs_done
    )


def hyperparameters(run: Run) -> dict[str, Any]:
    """The resolved config as TensorBoard takes it: numbers, strings and booleans (lists as
    comma-separated text; unset fields left out), and the run's status."""
    values: dict[str, Any] = {"status": run.status}
    for key, value in (run.config or {}).items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if isinstance(value, (bool, int, float, str)):
            values[key] = value
    return values


def final_metrics(run: Run) -> dict[str, float]:
    """The paper's per-run numbers (``final/max_val_acc``, ``final/mean_val_acc``, the same for
    the held-out split) where the run has them. Their own tags: a metric named like a
    per-epoch scalar would show that scalar's last value instead."""
    found = {}
    for split in SPLITS:
        for metric in PAPER_METRICS:
            value = run.metric(metric, split)
            if not math.isnan(value):
                found[f"final/{metric}_{split}_acc"] = value
    return found


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None

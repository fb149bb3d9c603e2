"""One run's folder through training (docs/run-folder.md), whether it trains alone or packed.

``RunSlot`` is the one place that decides a run folder's lifecycle: a fresh run writes its
config and an empty metrics file; a resumed run reads its config, its checkpoint and the
metrics the checkpoint covers; a completed run is returned untouched; at the end of each
epoch the run appends its record, stops as diverged on a non-finite loss (its pack goes on
without it), keeps best.pt and the checkpoint, and rewrites its summary. Every summary of a run
has the same keys whether it trained alone or in a pack (``packed_with`` when it did).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from rsmooth.config import RunConfig
from rsmooth.data.registry import Split
from rsmooth.engine.checkpoint import Progress, load_checkpoint, save_checkpoint
from rsmooth.engine.environment import Environment
from rsmooth.engine.step import Run
from rsmooth.errors import RsmoothError
from rsmooth.identity import describe
from rsmooth.parts import config_from_dict, resolve
from rsmooth.runfolder import (
    BEST,
    CHECKPOINT,
    COMPLETED,
    CONFIG,
    DIVERGED,
    RUNNING,
    RunFolder,
    atomic_write_bytes,
    read_run,
    summarize,
)


def read_config(folder: RunFolder) -> RunConfig:
    """A run folder's config for --resume, the plugins it names imported first (their fields
    are keys of it); any damage is one line naming the folder."""
    values = folder.read_config_values()
    try:
        return config_from_dict(values)
    except RsmoothError as err:  # a bad value, an unknown key, a plugin that is not here
        raise RsmoothError(f"--resume {folder.path}: {err}") from None


@dataclass(eq=False)  # slots are compared by identity (who is in the pack)
class RunSlot:
    """One run of a training process: its config, folder, and how far it got."""

    cfg: RunConfig
    folder: RunFolder
    run: Run | None = None  # its model and method while it trains
    split: Split | None = None  # its training split (its seed's subset, less its held-out part)
    epoch: int = 0  # epochs done: the next epoch to train
    step: int = 0
    seconds: float = 0.0  # wall time of the epochs it trained, across resumes
    best: float = -math.inf  # best.pt's selection accuracy so far
    metrics: list[dict[str, Any]] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)  # epochs, environment, method
    packed_with: list[str] = field(default_factory=list)  # the other runs' folders
    summary: dict[str, Any] | None = None  # set when the run is over

    @property
    def live(self) -> Run:
        assert self.run is not None, "a finished run does not train again"
        return self.run

    @property
    def training_split(self) -> Split:
        assert self.split is not None, "the splits are loaded before the first epoch"
        return self.split

    @property
    def done(self) -> bool:
        return self.summary is not None

    def completed_before(self) -> bool:
        """A resumed folder that finished in an earlier process: its summary, untouched."""
        found = read_run(self.folder.path)
        if found.status == COMPLETED:
            self.summary = found.summary or {}
            return True
        return False

    def start(self, run: Run, env: Environment, resume: bool) -> None:
        """Fresh (config and empty metrics written) or resumed from the checkpoint, if any."""
        self.run = run
        if resume and self.folder.file(CHECKPOINT).exists():
            progress = load_checkpoint(self.folder, run.model, run.optimizer, env.device)
            self.epoch, self.step, self.seconds = progress.epoch, progress.step, progress.seconds
            self.metrics = self.folder.truncate_metrics(self.epoch)
            self.best = best_so_far(self.metrics, self.cfg)
        else:
            self.folder.create(self.cfg)
            self.metrics = self.folder.truncate_metrics(0)
        self.base = {
            "epochs": self.cfg.epochs,
            "environment": env.describe(self.cfg),
            # what the run is, for the readers that import no torch (rsmooth/identity.py)
            "method": describe(self.cfg.to_dict()),
        }
        self.write_summary(RUNNING)

    def write_summary(self, status: str, **extra: Any) -> dict[str, Any]:
        summary = {
            "status": status,
            **self.base,
            **summarize(self.metrics, self.cfg.epochs or 0),
            "total_seconds": self.seconds,
            **extra,
        }
        if self.packed_with:
            summary["packed_with"] = self.packed_with
        self.folder.write_summary(summary)
        if status != RUNNING:
            self.summary = summary
        return summary

    def finish_epoch(self, record: dict[str, Any], seconds: float) -> bool:
        """The end of an epoch: its record, divergence, best.pt, checkpoint, summary. Returns
        False when the run diverged (it leaves the pack; its model state can go)."""
        self.metrics.append(record)
        self.seconds += seconds
        self.folder.append_metrics(record)
        if not finite(record):
            self.write_summary(DIVERGED, error=f"non-finite loss in epoch {record['epoch']}")
            self.run = None
            return False
        state = Detached(self.live.model.state_dict())  # copied once, for both files
        # best.pt before the checkpoint: a kill between the two replays this epoch.
        self.best = keep_best(self.folder, state, record, self.best, self.cfg)
        done = Progress(record["epoch"], record["step"], self.seconds)
        save_checkpoint(self.folder, state, self.live.optimizer, done)
        self.epoch, self.step = done.epoch, done.step  # what the checkpoint on disk holds
        self.write_summary(RUNNING)
        return True


class Detached:
    """A run's model as ``save_checkpoint`` and best.pt read it: its state dict copied out (a
    packed run's tensors are views, and saving a view writes its whole storage, every run of
    the pack, into the file)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = {name: t.clone() for name, t in state.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.state


def finite(record: dict[str, Any]) -> bool:
    """Every loss of the epoch record is finite (else the run diverged)."""
    return all(math.isfinite(v) for k, v in record.items() if k.endswith("_loss"))


# ----------------------------------------------------------------------------- best.pt
def selection_key(cfg: RunConfig) -> str:
    """best.pt follows the held-out accuracy where there is a held-out split (selection must
    not look at the test split), else the validation accuracy, as the paper's max does."""
    return "holdout_acc" if cfg.holdout > 0 else "val_acc"


def best_so_far(metrics: list[dict[str, Any]], cfg: RunConfig) -> float:
    key = selection_key(cfg)
    return max((m[key] for m in metrics if key in m), default=-math.inf)


def keep_best(
    folder: RunFolder, model: Any, record: dict[str, Any], best: float, cfg: RunConfig
) -> float:
    """Write best.pt (the weights alone: torch.load(..., weights_only=True)) when this epoch
    beats every earlier one on the selection accuracy; returns the best value so far."""
    value = record.get(selection_key(cfg))
    if value is None or value <= best:
        return best
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(folder.file(BEST), buffer.getvalue())
    return float(value)


def folder_config(cfg: RunConfig | None, folder: RunFolder, resume: bool) -> RunConfig:
    """The config a run trains with: on resume the folder's own (where it holds one), else
    ``cfg``, resolved; a fresh run needs a fresh folder."""
    if resume and (cfg is None or folder.file(CONFIG).exists()):
        cfg = read_config(folder)
    elif not resume:
        folder.ensure_fresh()
    if cfg is None:
        raise RsmoothError(f"{folder.path}: no config given and no {CONFIG} there to resume")
    return resolve(cfg)

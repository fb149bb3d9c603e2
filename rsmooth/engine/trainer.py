"""The training engine: K >= 1 runs from their configs to finished run folders, one loop.

Reads top to bottom: resolve each config (or read it back on --resume), check that the runs
may share a pack, pick the device, put the data on it, build each run's model and method, then
train epoch by epoch: every run still training steps together (one run is a pack of one),
is evaluated, and ends its epoch in its own folder (rsmooth/engine/lifecycle.py). A run that
diverges leaves the pack at the end of the epoch and the others are packed again without it.
The learning rates and s_t are pure functions of each run's step; the hot loop has no host
sync (the one per epoch and per evaluation is commented).

Runs join at the epoch their checkpoint reached, so a pack killed between two runs' checkpoint
writes resumes into the results of an unbroken one (data order and augmentation are pure
functions of (seed, epoch)): bit for bit for a run alone; for a run that trained alone for a
while and then packed, to rounding (grouped and plain convolutions sum in different orders;
1e-12 in float64, tests/test_packing.py).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from rsmooth import interrupt
from rsmooth.config import RunConfig
from rsmooth.data import DatasetSpec, DeviceBatches, Split
from rsmooth.data.loading import load_run_splits
from rsmooth.engine.capture import step_for
from rsmooth.engine.environment import Environment, select_environment
from rsmooth.engine.lifecycle import RunSlot, folder_config, read_config
from rsmooth.engine.packing import packable
from rsmooth.engine.progress import RunProgress
from rsmooth.engine.step import Pack, build_run
from rsmooth.errors import RsmoothError, RunFailedError
from rsmooth.methods import lr_at
from rsmooth.methods.smoothing import smoothing_scale
from rsmooth.runfolder import (
    CHECKPOINT,
    COMPLETED,
    CONFIG,
    FAILED,
    RUNNING,
    RunFolder,
    run_lock,
)


def train_run(
    cfg: RunConfig | None, out_dir: str | Path, *, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train one run into ``out_dir``; returns its summary (status completed or diverged).
    ``train_runs`` with one run: see there."""
    return train_runs([cfg], [out_dir], resume=resume, quiet=quiet)[0]


def train_runs(
    cfgs: Sequence[RunConfig | None],
    out_dirs: Sequence[str | Path],
    *,
    resume: bool = False,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Train ``cfgs[i]`` into ``out_dirs[i]``, all K as one pack; returns their summaries.

    resume=False: each folder must not exist or be empty. resume=True: each folder's config is
    read from its config.yaml and training continues from its checkpoint (from scratch if
    none); where a folder holds no config yet, ``cfgs[i]`` starts it (how sweeps start and
    resume alike); a completed run's summary comes back untouched. The runs must be packable
    (``rsmooth.engine.packing``; one run always is). User errors (config, data, folder, a
    pack that cannot be) raise RsmoothError before anything is written; a failure after the
    start (disk full, folder removed) raises RunFailedError naming what survived.
    """
    if len(cfgs) != len(out_dirs):
        raise ValueError(f"{len(cfgs)} configs for {len(out_dirs)} run folders")
    folders = [RunFolder(d) for d in out_dirs]
    seen = [f.path.resolve() for f in folders]
    if len(set(seen)) < len(seen):
        twice = next(f.path for f, p in zip(folders, seen, strict=True) if seen.count(p) > 1)
        raise RsmoothError(f"run folder {twice} is named twice: a run trains once per process")
    for cfg, folder in zip(cfgs, folders, strict=True):
        if resume and cfg is None and not folder.file(CONFIG).is_file():
            read_config(folder)  # the one-line error for a folder that holds no run
    with contextlib.ExitStack() as locks:
        if resume:  # before reading their state: one process trains a run
            _lock(locks, folders)
        slots = [
            RunSlot(folder_config(cfg, folder, resume), folder)
            for cfg, folder in zip(cfgs, folders, strict=True)
        ]
        pending = [s for s in slots if not (resume and s.completed_before())]
        if pending:
            _train_pending(pending, resume, quiet, locks)
    return [s.summary or {} for s in slots]


def _lock(locks: contextlib.ExitStack, folders: Sequence[RunFolder]) -> None:
    for folder in folders:
        locks.enter_context(run_lock(folder.path))
        folder.remove_litter()


def _train_pending(
    slots: list[RunSlot], resume: bool, quiet: bool, locks: contextlib.ExitStack
) -> None:
    """Everything checked and the data loaded before a fresh folder is written; then train."""
    ok, reason = packable([s.cfg for s in slots])
    if not ok:
        raise RsmoothError(f"these runs cannot train as one pack: {reason}")
    cfg = slots[0].cfg  # what the pack shares (rsmooth/engine/packing.py)
    env = select_environment(cfg)
    spec, train_splits, val_split, holdout_split = load_run_splits([s.cfg for s in slots])
    if not resume:
        _lock(locks, [s.folder for s in slots])
        for slot in slots:
            slot.folder.ensure_fresh()  # again, now that no other process can start it
    for slot, split in zip(slots, train_splits, strict=True):
        slot.packed_with = [str(s.folder.path) for s in slots if s is not slot]
        slot.split = split
        slot.start(build_run(slot.cfg, env, spec), env, resume)
    evaluations = {"val": val_split, "holdout": holdout_split}
    Loop(slots, env, spec, evaluations, quiet).run()


class Loop:
    """The epoch loop of a process's runs (K >= 1), with the engine's one failure policy."""

    def __init__(
        self,
        slots: list[RunSlot],
        env: Environment,
        spec: DatasetSpec,
        evaluations: dict[str, Split | None],
        quiet: bool,
    ) -> None:
        self.slots, self.env, self.spec = slots, env, spec
        self.cfg = slots[0].cfg
        dtype = next(slots[0].live.model.parameters()).dtype
        self.evaluations = {
            name: DeviceBatches(
                split,
                spec,
                env.device,
                self.cfg.eval_batch_size,
                train=False,
                channels_last=env.channels_last,
                dtype=dtype,
            )
            for name, split in evaluations.items()
            if split is not None
        }
        self.dtype = dtype
        steps = math.ceil(len(slots[0].training_split) / self.cfg.batch_size)  # per epoch
        self.display = RunProgress(self.cfg, steps, enabled=not quiet)

    def run(self) -> None:
        first = epoch = min(s.epoch for s in self.slots)
        pack: _Epochs | None = None
        try:
            with self.display:
                for epoch in range(first, self.cfg.epochs or 0):
                    active = [s for s in self.slots if not s.done and s.epoch == epoch]
                    if not active:
                        continue
                    if pack is None or pack.slots != active:  # a run joined or left
                        pack = _Epochs(active, self.env, self.spec, self.dtype)
                    self._epoch(pack, epoch)
            for slot in self.slots:  # inside the policy: a failure to say so is a failure
                if not slot.done:
                    slot.write_summary(COMPLETED)
        except (KeyboardInterrupt, SystemExit):
            self._each_unfinished(lambda s: s.write_summary(RUNNING))  # resumable
            raise
        except RsmoothError:
            raise
        except Exception as err:
            text = f"{type(err).__name__}: {err}".splitlines()[0]
            message = failure_message(self.slots, epoch, text)  # before the slots are closed
            self._each_unfinished(lambda s: s.write_summary(FAILED, error=text))
            if os.environ.get("RSMOOTH_DEBUG"):
                raise
            raise RunFailedError(message) from None

    def _epoch(self, pack: _Epochs, epoch: int) -> None:
        started = time.perf_counter()
        records = pack.train_epoch(epoch, self.display.batch_advance(epoch))
        for name, batches in self.evaluations.items():
            if name == "val" and epoch < val_first_epoch(self.cfg):
                continue  # val_start: the test split is evaluated late only
            for record, result in zip(records, pack.evaluate(batches, name), strict=True):
                record.update(result)
        seconds = time.perf_counter() - started
        for slot, record in zip(pack.slots, records, strict=True):
            if slot.finish_epoch(record, seconds):
                self.display.epoch_done(record)

    def _each_unfinished(self, action: Callable[[RunSlot], object]) -> None:
        for slot in self.slots:
            if not slot.done:
                _try(action, slot)


def failure_message(slots: Sequence[RunSlot], epoch: int, text: str) -> str:
    """What failed and what survived: a run whose checkpoint is there continues from it with
    --resume; one whose folder or checkpoint is gone is said to be so (never a promise of a
    file that is not there)."""
    left = [s for s in slots if not s.done]
    return f"run {_where(left)} failed in epoch {epoch + 1} ({text}); " + "; ".join(
        _survivor(s) for s in left
    )


def _where(slots: Sequence[RunSlot]) -> str:
    return str(slots[0].folder.path) if len(slots) == 1 else f"of {len(slots)} packed runs"


def _survivor(slot: RunSlot) -> str:
    path = slot.folder.path
    if not path.is_dir():
        return f"{path} is gone: nothing of it survives"
    if not slot.folder.file(CHECKPOINT).is_file():
        return f"{path} keeps no checkpoint: --resume {path} starts it from its first epoch"
    return f"the checkpoint of epoch {slot.epoch} is intact: continue with --resume {path}"


def val_first_epoch(cfg: RunConfig) -> int:
    """The first (0-based) epoch that evaluates the test split: ``val_start`` skips the epochs
    before it (floor of the fraction; 0.9 of 48 epochs evaluates the last 5)."""
    return math.floor(cfg.val_start * (cfg.epochs or 0) + 1e-9)


class _Epochs:
    """The runs that train together this epoch: their pack and batches."""

    def __init__(
        self, slots: list[RunSlot], env: Environment, spec: DatasetSpec, dtype: torch.dtype
    ) -> None:
        self.slots = slots
        self.cfgs = [s.cfg for s in slots]
        self.env = env
        self.pack = Pack([s.live for s in slots], env, spec.num_classes)
        self.step = step_for(self.pack)  # captured once per batch shape with cuda_graphs
        self.batches = self.pack.batches([s.training_split for s in slots], spec)
        self.total_steps = (self.cfgs[0].epochs or 0) * len(self.batches)

    def train_epoch(self, epoch: int, advance: Callable[[], None]) -> list[dict[str, Any]]:
        cfgs, device, total = self.cfgs, self.env.device, self.total_steps
        step = self.slots[0].step
        self.pack.model.train()
        # every step's s_t of every run, as each run computes it, copied once per epoch
        s_t = torch.tensor(
            [[smoothing_scale(c, step + i, total) for c in cfgs] for i in range(len(self.batches))],
            dtype=torch.float64,
            device=device,
        )
        loss_sum = torch.zeros(len(cfgs), device=device)
        correct = torch.zeros(len(cfgs), device=device, dtype=torch.int64)
        seen = 0
        lrs = [lr_at(c, step, total) for c in cfgs]
        started = time.perf_counter()
        for i, (images, labels) in enumerate(self.batches.batches(epoch)):
            interrupt.check()  # a stop request that a finalizer swallowed (rsmooth.interrupt)
            lrs = [lr_at(c, step, total) for c in cfgs]
            losses, logits = self.step(images, labels, lrs, s_t[i])
            n = labels.shape[1]
            loss_sum += losses.float() * n
            correct += (logits.argmax(dim=2) == labels).sum(dim=1)
            seen += n
            step += 1
            advance()
        # The one deliberate host sync of the epoch: read the on-device sums.
        losses_, corrects = loss_sum.tolist(), correct.tolist()
        seconds = time.perf_counter() - started
        return [
            {
                "epoch": epoch + 1,
                "step": step,
                "lr": lr,
                "s_t": smoothing_scale(c, step - 1, total),
                "train_loss": loss / seen,
                "train_acc": 100.0 * hits / seen,
                "epoch_seconds": seconds,
                "images_per_second": seen / seconds,
            }
            for c, lr, loss, hits in zip(cfgs, lrs, losses_, corrects, strict=True)
        ]

    @torch.no_grad()
    def evaluate(self, batches: DeviceBatches, name: str) -> list[dict[str, float]]:
        """Every run's ``<name>_loss`` (the unsmoothed base loss) and ``<name>_acc`` over a
        split they share."""
        runs = len(self.cfgs)
        self.pack.model.eval()
        loss_sum = torch.zeros(runs, device=self.env.device)
        correct = torch.zeros(runs, device=self.env.device, dtype=torch.int64)
        seen = 0
        for images, labels in batches.batches(0, 0):
            logits = self.pack.shared_logits(images)
            loss_sum += self.pack.objective.validation_sums(logits, labels)
            correct += (logits.argmax(dim=2) == labels).sum(dim=1)
            seen += labels.shape[0]
        # One sync per evaluation.
        return [
            {f"{name}_loss": loss / seen, f"{name}_acc": 100.0 * hits / seen}
            for loss, hits in zip(loss_sum.tolist(), correct.tolist(), strict=True)
        ]


def _try(action: Callable[[RunSlot], object], slot: RunSlot) -> None:
    """Best effort while failing already: the folder may be gone or the disk full."""
    try:
        action(slot)
    except OSError:
        pass

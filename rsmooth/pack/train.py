"""``train_packed``: K runs trained at once as one packed model, each into its own run folder.

Each run folder is the one ``train_run`` writes (docs/run-folder.md): config.yaml,
metrics.jsonl with the same keys (holdout_* with --holdout), summary.json (plus
``packed_with``: the other runs' folders) and a checkpoint.pt with the plain model's and the
plain optimizer's state dicts, which the one-run engine's ``--resume`` continues. The loop is
the engine's (rsmooth/engine/trainer.py) with per-run records: each run's lr and s_t are pure
functions of its step, and there is one host sync per epoch and per evaluation.

Runs leave the pack at epoch boundaries: a run whose loss is NaN/Inf at the end of an epoch is
recorded as diverged, as the engine records it, and the others are packed again without it
(runs never mix inside a pack, so its NaNs did not reach them). Runs join the pack at the epoch
their checkpoint reached, so a pack killed between two runs' checkpoint writes resumes into
exactly the results of an unbroken one (data order and augmentation are pure functions of
(seed, epoch)).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rsmooth import interrupt
from rsmooth.config import RunConfig
from rsmooth.data import DatasetSpec, DeviceBatches, Split, load_splits
from rsmooth.engine.checkpoint import Progress, load_checkpoint, save_checkpoint
from rsmooth.engine.environment import Environment, select_environment
from rsmooth.engine.progress import RunProgress
from rsmooth.engine.trainer import best_so_far, finite, keep_best, val_first_epoch
from rsmooth.methods import lr_at
from rsmooth.methods.smoothing import smoothing_scale
from rsmooth.pack.batches import PackedBatches, packed_layout
from rsmooth.pack.compat import packable
from rsmooth.pack.step import PackedStep, Run, build_run
from rsmooth.runfolder import (
    CHECKPOINT,
    COMPLETED,
    CONFIG,
    RunFolder,
    read_run,
    run_lock,
    summarize,
)


def train_packed(
    cfgs: Sequence[RunConfig | None],
    out_dirs: Sequence[str | Path],
    *,
    resume: bool = False,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Train ``cfgs[i]`` into ``out_dirs[i]`` as one pack; returns their summaries, in order.

    The folder rules are ``train_run``'s, per run: resume=False needs fresh folders;
    resume=True reads each folder's config.yaml where there is one and continues from its
    checkpoint, and returns a completed run's summary untouched. The runs to train must be
    ``packable`` (ValueError with the reason otherwise: train them with ``train_run``).
    A config may be None where the folder holds one (resume=True: a sweep's packed worker).
    """
    if len(cfgs) != len(out_dirs):
        raise ValueError(f"{len(cfgs)} configs for {len(out_dirs)} run folders")
    with contextlib.ExitStack() as locks:
        for out_dir in out_dirs:  # one process trains a run: each folder's lock, as train_run
            locks.enter_context(run_lock(out_dir))
        return _train_locked(cfgs, out_dirs, resume, quiet)


def _train_locked(
    cfgs: Sequence[RunConfig | None],
    out_dirs: Sequence[str | Path],
    resume: bool,
    quiet: bool,
) -> list[dict[str, Any]]:
    slots = []
    for cfg, out_dir in zip(cfgs, out_dirs, strict=True):
        folder = RunFolder(out_dir)
        folder.remove_litter()
        if resume and folder.file(CONFIG).exists():
            cfg = folder.read_config()
        elif not resume:
            folder.ensure_fresh()
        if cfg is None:
            raise ValueError(f"{out_dir}: no config given and no config.yaml to resume")
        slots.append(_Slot(cfg.resolve(), folder))
    for slot in slots:
        slot.packed_with = [str(s.folder.path) for s in slots if s is not slot]
        found = read_run(slot.folder.path)
        if resume and found.status == COMPLETED:
            slot.summary = found.summary or {}
    todo = [s for s in slots if s.summary is None]
    if todo:
        ok, reason = packable([s.cfg for s in todo])
        if not ok:
            raise ValueError(f"these runs cannot share a pack: {reason}")
        _train(todo, resume, quiet)
    return [s.summary or {} for s in slots]


@dataclass(eq=False)  # slots are compared by identity (who is in the pack)
class _Slot:
    """One run of the pack: its folder and how far it got."""

    cfg: RunConfig
    folder: RunFolder
    run: Run | None = None
    train_split: Split | None = None
    epoch: int = 0  # epochs done: the next epoch to train
    best: float = -math.inf  # best.pt's selection accuracy so far
    step: int = 0
    seconds: float = 0.0  # wall time of the epochs it trained in, across resumes
    metrics: list[dict[str, Any]] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)  # epochs and environment, as the engine
    packed_with: list[str] = field(default_factory=list)  # the other runs' folders
    summary: dict[str, Any] | None = None  # set when the run is over

    @property
    def live(self) -> Run:
        """The run's model and method, while it trains (a diverged run drops them)."""
        assert self.run is not None, "a finished run is not packed again"
        return self.run

    @property
    def split(self) -> Split:
        assert self.train_split is not None, "the splits are loaded before the first pack"
        return self.train_split

    def write_summary(self, status: str, **extra: Any) -> dict[str, Any]:
        summary = {
            "status": status,
            **self.base,
            **summarize(self.metrics, self.cfg.epochs or 0),
            "total_seconds": self.seconds,
            **extra,
            "packed_with": self.packed_with,
        }
        self.folder.write_summary(summary)
        if status != "running":
            self.summary = summary
        return summary


def _train(slots: list[_Slot], resume: bool, quiet: bool) -> None:
    cfg = slots[0].cfg  # what the pack shares (compat.SHARED)
    env = select_environment(cfg)
    spec, train_splits, val_split, holdout_split = load_pack_splits([s.cfg for s in slots])
    for slot, split in zip(slots, train_splits, strict=True):
        slot.train_split = split
        slot.run = build_run(slot.cfg, env, spec)
        if resume and slot.folder.file(CHECKPOINT).exists():
            progress = load_checkpoint(slot.folder, slot.run.model, slot.run.optimizer, env.device)
            slot.epoch, slot.step, slot.seconds = progress.epoch, progress.step, progress.seconds
            slot.metrics = slot.folder.truncate_metrics(slot.epoch)
            slot.best = best_so_far(slot.metrics, slot.cfg)
        else:
            slot.folder.create(slot.cfg)
            slot.folder.truncate_metrics(0)
        slot.base = {"epochs": slot.cfg.epochs, "environment": env.describe(slot.cfg)}
        slot.write_summary("running")
    dtype = next(slots[0].live.model.parameters()).dtype
    evaluations = {"val": val_split, "holdout": holdout_split}
    eval_batches = [
        (
            prefix,
            DeviceBatches(split, spec, env.device, cfg.eval_batch_size, train=False, dtype=dtype),
        )
        for prefix, split in evaluations.items()
        if split is not None
    ]
    pack: _Pack | None = None
    display = RunProgress(cfg, math.ceil(len(train_splits[0]) / cfg.batch_size), enabled=not quiet)
    try:
        with display:
            for epoch in range(min(s.epoch for s in slots), cfg.epochs or 0):
                active = [s for s in slots if s.summary is None and s.epoch == epoch]
                if not active:
                    continue
                if pack is None or pack.slots != active:  # a run joined or left: pack again
                    pack = _Pack(active, env, spec, dtype)
                started = time.perf_counter()
                records = pack.train_epoch(epoch, display.batch_advance(epoch))
                for prefix, batches in eval_batches:
                    if prefix == "val" and epoch < val_first_epoch(cfg):
                        continue  # val_start: the test split is evaluated late only
                    for record, result in zip(records, pack.evaluate(batches, prefix), strict=True):
                        record.update(result)
                seconds = time.perf_counter() - started
                for slot, record in zip(active, records, strict=True):
                    _finish_epoch(slot, record, seconds, display)
    except (KeyboardInterrupt, SystemExit):
        for slot in slots:
            if slot.summary is None:
                slot.write_summary("running")  # resumable from the last checkpoint
        raise
    except Exception as err:
        for slot in slots:
            if slot.summary is None:
                slot.write_summary("failed", error=f"{type(err).__name__}: {err}".splitlines()[0])
        raise
    for slot in slots:
        if slot.summary is None:
            slot.write_summary("completed")


def _finish_epoch(
    slot: _Slot, record: dict[str, Any], seconds: float, progress: RunProgress
) -> None:
    """The engine's end of an epoch, for one run: metrics, divergence, checkpoint, summary."""
    slot.metrics.append(record)
    slot.seconds += seconds
    slot.folder.append_metrics(record)
    if not finite(record):
        slot.write_summary("diverged", error=f"non-finite loss in epoch {record['epoch']}")
        slot.run = None  # out of every later pack: its model and optimizer state can go
        return
    assert slot.run is not None
    slot.epoch, slot.step = record["epoch"], record["step"]
    model_state = _Detached(slot.run.model)
    slot.best = keep_best(slot.folder, model_state, record, slot.best, slot.cfg)
    save_checkpoint(
        slot.folder, model_state, slot.run.optimizer, Progress(slot.epoch, slot.step, slot.seconds)
    )
    slot.write_summary("running")
    progress.epoch_done(record)


class _Detached:
    """A packed run's model as ``save_checkpoint`` reads it: its state dict copied out of the
    pack (a view would write the whole pack's storage into every run's checkpoint)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: t.clone() for name, t in self.model.state_dict().items()}


def load_pack_splits(
    cfgs: Sequence[RunConfig],
) -> tuple[Any, list[Split], Split, Split | None]:
    """``load_splits`` for a pack: the spec, each run's training split (one object shared by
    runs whose splits cannot differ), and the validation and held-out splits they share."""
    per_seed = cfgs[0].subset < 1 or cfgs[0].holdout > 0  # else the seed does not pick samples
    loaded: dict[int | None, tuple] = {}
    for cfg in cfgs:
        key = cfg.seed if per_seed else None
        if key not in loaded:
            loaded[key] = load_splits(cfg)
    spec, _, val_split, holdout_split = next(iter(loaded.values()))
    trains = [loaded[cfg.seed if per_seed else None][1] for cfg in cfgs]
    return spec, trains, val_split, holdout_split


class _Pack:
    """The runs that train together this epoch: their packed step and batches."""

    def __init__(
        self, slots: list[_Slot], env: Environment, spec: DatasetSpec, dtype: torch.dtype
    ) -> None:
        self.slots = slots
        self.cfgs = [s.cfg for s in slots]
        self.env = env
        self.step = PackedStep([s.live for s in slots], env, spec.num_classes)
        self.batches = PackedBatches(
            [s.split for s in slots],
            [c.seed for c in self.cfgs],
            spec,
            env.device,
            self.cfgs[0].batch_size,
            channels_last=env.channels_last,
            dtype=dtype,
        )
        self.total_steps = (self.cfgs[0].epochs or 0) * len(self.batches)

    def train_epoch(self, epoch: int, advance: Callable[[], None]) -> list[dict[str, Any]]:
        cfgs, device, total = self.cfgs, self.env.device, self.total_steps
        step = self.slots[0].step
        self.step.model.train()
        # every step's s_t of every run, computed as one run computes it, copied once per epoch
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
            self.step.set_lrs(lrs)
            losses, logits = self.step(images, labels, s_t[i])
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
    def evaluate(self, batches: DeviceBatches, prefix: str) -> list[dict[str, float]]:
        """Every run's loss and accuracy on a split they share (the packed input repeats it)."""
        step, runs = self.step, len(self.cfgs)
        step.model.eval()
        layout = torch.channels_last if self.env.channels_last else torch.contiguous_format
        loss_sum = torch.zeros(runs, device=self.env.device)
        correct = torch.zeros(runs, device=self.env.device, dtype=torch.int64)
        seen = 0
        for images, labels in batches.batches(0, 0):
            with self.env.autocast():
                logits = step.forward(packed_layout(images, runs, layout, shared=True))
            loss_sum += step.objective.validation_sums(logits, labels)
            correct += (logits.argmax(dim=2) == labels).sum(dim=1)
            seen += labels.shape[0]
        # One sync per evaluation.
        return [
            {f"{prefix}_loss": loss / seen, f"{prefix}_acc": 100.0 * hits / seen}
            for loss, hits in zip(loss_sum.tolist(), correct.tolist(), strict=True)
        ]

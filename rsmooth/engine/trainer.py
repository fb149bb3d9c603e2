"""The training engine: one run from a RunConfig to a finished run folder.

Reads top to bottom: resolve the config (or read it back on --resume), pick the device, put
the data on it, build the method's four parts around the model, then train epoch by epoch,
evaluating, logging and checkpointing after each epoch. The learning rate and s_t are pure
functions of the step; the hot loop has no host sync (the one per epoch is commented).
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rsmooth import interrupt
from rsmooth.config import RunConfig
from rsmooth.data import DeviceBatches, load_splits
from rsmooth.engine.checkpoint import Progress, load_checkpoint, save_checkpoint
from rsmooth.engine.environment import select_environment
from rsmooth.engine.progress import RunProgress
from rsmooth.engine.step import Method, build_method, train_step
from rsmooth.errors import RsmoothError, RunFailedError
from rsmooth.methods import lr_at
from rsmooth.methods.smoothing import smoothing_scale
from rsmooth.models import build_model
from rsmooth.runfolder import (
    BEST,
    CHECKPOINT,
    COMPLETED,
    CONFIG,
    RunFolder,
    atomic_write_bytes,
    read_run,
    run_lock,
    summarize,
)


def train_run(
    cfg: RunConfig | None, out_dir: str | Path, *, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train one run into ``out_dir``; returns its summary (status completed or diverged).

    resume=False: ``out_dir`` must not exist or be empty. resume=True: the config is read from
    ``out_dir/config.yaml`` and training continues from its checkpoint (from scratch if none);
    where the folder holds no config yet, ``cfg`` starts it (how sweeps start and resume alike).
    User errors (config, data, folder) raise RsmoothError before anything is written; a failure
    after the start (disk full, folder removed) raises RunFailedError, with the last finished
    epoch's checkpoint intact.
    """
    folder = RunFolder(out_dir)
    if not resume:  # everything checked, the data loaded, before the folder is created
        cfg = _config_of(cfg, folder, resume)
        env = select_environment(cfg)
        run = prepare(cfg, env)
        with run_lock(folder.path):
            folder.ensure_fresh()  # again, now that no other process can start it
            folder.create(cfg)
            metrics = folder.truncate_metrics(0)
            return _train(cfg, folder, run, Progress(0, 0, 0.0), metrics, quiet)
    if cfg is None and not folder.file(CONFIG).is_file():
        folder.read_config()  # the one-line error for a folder that holds no run
    with run_lock(folder.path):  # before reading its state: one process trains a run
        folder.remove_litter()
        cfg = _config_of(cfg, folder, resume)
        found = read_run(folder.path)
        if found.status == COMPLETED:
            return found.summary or {}
        env = select_environment(cfg)
        run = prepare(cfg, env)
        if folder.file(CHECKPOINT).exists():
            progress = load_checkpoint(folder, run.method.model, run.method.optimizer, env.device)
            metrics = folder.truncate_metrics(progress.epoch)
        else:
            folder.create(cfg)
            metrics = folder.truncate_metrics(0)
            progress = Progress(0, 0, 0.0)
        return _train(cfg, folder, run, progress, metrics, quiet)


def _config_of(cfg: RunConfig | None, folder: RunFolder, resume: bool) -> RunConfig:
    if resume and (cfg is None or folder.file(CONFIG).exists()):
        cfg = folder.read_config()
    elif not resume:
        folder.ensure_fresh()
    if cfg is None:
        raise ValueError("train_run needs a config unless it resumes an existing run folder")
    return cfg.resolve()


@dataclass
class Prepared:
    """Everything a run trains with: the method around its model, and the batches."""

    method: Method
    train: DeviceBatches
    evaluations: dict[str, DeviceBatches]  # split name ("val", "holdout") -> batches


def prepare(cfg: RunConfig, env: Any) -> Prepared:
    """Data on the device, the model (seeded init) and the method around it."""
    torch.manual_seed(cfg.seed)
    spec, train_split, val_split, holdout_split = load_splits(cfg)
    model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(env.device)
    if env.channels_last:
        model = model.to(memory_format=torch.channels_last)

    def batches(split: Any, train: bool) -> DeviceBatches:
        size = cfg.batch_size if train else cfg.eval_batch_size
        return DeviceBatches(
            split, spec, env.device, size, train=train, channels_last=env.channels_last
        )

    evaluations = {"val": batches(val_split, False)}
    if holdout_split is not None:
        evaluations["holdout"] = batches(holdout_split, False)
    method = build_method(cfg, env, model, spec.num_classes)
    return Prepared(method, batches(train_split, True), evaluations)


def _train(
    cfg: RunConfig,
    folder: RunFolder,
    run: Prepared,
    progress: Progress,
    metrics: list[dict[str, Any]],
    quiet: bool,
) -> dict[str, Any]:
    assert cfg.epochs is not None
    total_steps = cfg.epochs * len(run.train)
    environment = run.method.env.describe(cfg)
    started = time.perf_counter()
    best = best_so_far(metrics, cfg)

    seconds_before = progress.seconds  # of earlier processes of this run (resumed)

    def seconds() -> float:
        return seconds_before + time.perf_counter() - started

    def write_summary(status: str, **extra: Any) -> dict[str, Any]:
        summary = {
            "status": status,
            "epochs": cfg.epochs,
            "environment": environment,
            **summarize(metrics, cfg.epochs or 0),
            "total_seconds": seconds(),
            **extra,
        }
        folder.write_summary(summary)
        return summary

    display = RunProgress(cfg, len(run.train), enabled=not quiet)
    epoch = progress.epoch
    try:
        write_summary("running")
        with display:
            for epoch in range(progress.epoch, cfg.epochs):
                record = train_epoch(
                    cfg, run.method, run.train, epoch, progress.step, total_steps,
                    display.batch_advance(epoch),
                )  # fmt: skip
                for split, batches in run.evaluations.items():
                    if split != "val" or epoch >= val_first_epoch(cfg):
                        record.update(evaluate(run.method, batches, split))
                metrics.append(record)
                folder.append_metrics(record)
                if not finite(record):
                    return write_summary(
                        "diverged", error=f"non-finite loss in epoch {record['epoch']}"
                    )
                # best.pt before the checkpoint: a kill between the two replays this epoch.
                best = keep_best(folder, run.method.model, record, best, cfg)
                finished = Progress(epoch + 1, record["step"], seconds())
                save_checkpoint(folder, run.method.model, run.method.optimizer, finished)
                progress = finished
                write_summary("running")
                display.epoch_done(record)
    except (KeyboardInterrupt, SystemExit):
        _try(lambda: write_summary("running"))  # resumable from the last checkpoint
        raise
    except RsmoothError:
        raise
    except Exception as err:
        text = f"{type(err).__name__}: {err}".splitlines()[0]
        _try(lambda: write_summary("failed", error=text))
        if os.environ.get("RSMOOTH_DEBUG"):
            raise
        raise RunFailedError(
            f"run {folder.path} failed in epoch {epoch + 1} ({text}); the checkpoint of epoch "
            f"{progress.epoch} is intact: continue with --resume {folder.path}"
        ) from None
    return write_summary("completed")


def val_first_epoch(cfg: RunConfig) -> int:
    """The first (0-based) epoch that evaluates the test split: ``val_start`` skips the epochs
    before it (floor of the fraction; 0.9 of 48 epochs evaluates the last 5)."""
    return math.floor(cfg.val_start * (cfg.epochs or 0) + 1e-9)


def train_epoch(
    cfg: RunConfig,
    method: Method,
    batches: DeviceBatches,
    epoch: int,
    step: int,
    total_steps: int,
    advance: Callable[[], None],
) -> dict[str, Any]:
    """One epoch of ``train_step``; returns its metrics record (train part)."""
    device = method.env.device
    method.model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    lr, s_t = lr_at(cfg, step, total_steps), smoothing_scale(cfg, step, total_steps)
    started = time.perf_counter()
    for images, labels in batches.batches(epoch, cfg.seed):
        lr, s_t = lr_at(cfg, step, total_steps), smoothing_scale(cfg, step, total_steps)
        interrupt.check()  # a stop request that a finalizer swallowed (rsmooth.interrupt)
        loss, logits = train_step(method, images, labels, lr, s_t)
        loss_sum += loss.float() * labels.shape[0]
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += labels.shape[0]
        step += 1
        advance()
    # The one deliberate host sync of the epoch: read the on-device sums.
    train_loss, train_acc = loss_sum.item() / seen, 100.0 * correct.item() / seen
    seconds = time.perf_counter() - started
    return {
        "epoch": epoch + 1,
        "step": step,
        "lr": lr,
        "s_t": s_t,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "epoch_seconds": seconds,
        "images_per_second": seen / seconds,
    }


@torch.no_grad()
def evaluate(method: Method, batches: DeviceBatches, split: str) -> dict[str, float]:
    """``<split>_loss`` (the unsmoothed base loss) and ``<split>_acc`` over one split."""
    method.model.eval()
    loss_sum = torch.zeros((), device=method.env.device)
    correct = torch.zeros((), device=method.env.device, dtype=torch.int64)
    seen = 0
    for images, labels in batches.batches(0, 0):
        logits = method.logits(images)
        loss_sum += method.objective.validation_sum(logits, labels)
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += labels.shape[0]
    # One sync per evaluation.
    return {f"{split}_loss": loss_sum.item() / seen, f"{split}_acc": 100.0 * correct.item() / seen}


def finite(record: dict[str, Any]) -> bool:
    """Every loss of the epoch record is finite (else the run diverged)."""
    return all(math.isfinite(v) for k, v in record.items() if k.endswith("_loss"))


# ----------------------------------------------------------------------------- best.pt
def _selection_key(cfg: RunConfig) -> str:
    """best.pt follows the held-out accuracy where there is a held-out split (selection must
    not look at the test split), else the validation accuracy, as the paper's max does."""
    return "holdout_acc" if cfg.holdout > 0 else "val_acc"


def best_so_far(metrics: list[dict[str, Any]], cfg: RunConfig) -> float:
    values = [m[_selection_key(cfg)] for m in metrics if _selection_key(cfg) in m]
    return max(values, default=-math.inf)


def keep_best(
    folder: RunFolder, model: Any, record: dict[str, Any], best: float, cfg: RunConfig
) -> float:
    """Write best.pt (the weights alone: torch.load(..., weights_only=True)) when this epoch
    beats every earlier one on the selection accuracy; returns the best value so far."""
    value = record.get(_selection_key(cfg))
    if value is None or value <= best:
        return best
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(folder.file(BEST), buffer.getvalue())
    return float(value)


def _try(action: Callable[[], object]) -> None:
    """Best effort while failing already: the folder may be gone or the disk full."""
    try:
        action()
    except OSError:
        pass

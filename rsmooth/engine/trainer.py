"""The training engine: one run from a RunConfig to a finished run folder.

Reads top to bottom: resolve and validate the config, pick the device, load the data onto
it, build the four parts of the method (loss, optimizer, gradient transform, step rule),
then train epoch by epoch, evaluating, logging and checkpointing after each epoch.
The learning rate and s_t are pure functions of the step; the hot loop has no host sync
(the one per epoch is commented).
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rsmooth.config import RunConfig
from rsmooth.data import DeviceBatches, load_splits
from rsmooth.engine.environment import Environment, select_environment
from rsmooth.engine.progress import RunProgress
from rsmooth.engine.runfolder import CHECKPOINT, CONFIG, RunFolder, atomic_write_bytes, summarize
from rsmooth.methods import (
    build_grad_transform,
    build_loss,
    build_optimizer,
    build_step_rule,
    lr_at,
)
from rsmooth.methods.smoothing import smoothing_scale
from rsmooth.models import build_model


def train_run(
    cfg: RunConfig | None, out_dir: str | Path, *, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """Train one run into ``out_dir``; returns its summary (status completed/diverged/failed).

    resume=False: ``out_dir`` must not exist or be empty. resume=True: the config is read from
    ``out_dir/config.yaml`` and training continues from its checkpoint (from scratch if none);
    where the folder holds no config yet, ``cfg`` starts it (how sweeps start and resume alike).
    User errors (config, data, folder) raise RsmoothError before anything is written.
    """
    folder = RunFolder(out_dir)
    if resume and (cfg is None or folder.file(CONFIG).exists()):
        cfg = folder.read_config()
    elif not resume:
        folder.ensure_fresh()
    if cfg is None:
        raise ValueError("train_run needs a config unless it resumes an existing run folder")
    cfg = cfg.resolve()
    if resume and folder.read_summary().get("status") == "completed":
        return folder.read_summary()

    env = select_environment(cfg)
    torch.manual_seed(cfg.seed)
    spec, train_split, val_split, holdout_split = load_splits(cfg)
    model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(env.device)
    if env.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)

    start_epoch, step, seconds_before = 0, 0, 0.0
    if resume and folder.file(CHECKPOINT).exists():
        start_epoch, step, seconds_before = load_checkpoint(folder, model, optimizer, env)
        metrics = folder.truncate_metrics(start_epoch)
    else:
        folder.create(cfg)
        folder.truncate_metrics(0)
        metrics = []

    trainer = Trainer(cfg, env, model, optimizer, spec.num_classes)
    train_batches = DeviceBatches(
        train_split, spec, env.device, cfg.batch_size, train=True, channels_last=env.channels_last
    )
    val_batches = DeviceBatches(
        val_split,
        spec,
        env.device,
        cfg.eval_batch_size,
        train=False,
        channels_last=env.channels_last,
    )
    holdout_batches = (
        None
        if holdout_split is None
        else DeviceBatches(
            holdout_split,
            spec,
            env.device,
            cfg.eval_batch_size,
            train=False,
            channels_last=env.channels_last,
        )
    )
    total_steps = cfg.epochs * len(train_batches)
    base_summary = {"epochs": cfg.epochs, "environment": env.describe(cfg)}
    started = time.perf_counter()

    def write_summary(status: str, **extra: Any) -> dict[str, Any]:
        summary = {
            "status": status,
            **base_summary,
            **summarize(metrics, cfg.epochs),
            "total_seconds": seconds_before + time.perf_counter() - started,
            **extra,
        }
        folder.write_summary(summary)
        return summary

    write_summary("running")
    progress = RunProgress(cfg, len(train_batches), enabled=not quiet)
    try:
        with progress:
            for epoch in range(start_epoch, cfg.epochs):
                record = trainer.train_epoch(
                    train_batches, epoch, step, total_steps, progress.batch_advance(epoch)
                )
                step = record["step"]
                record.update(trainer.evaluate(val_batches))
                if holdout_batches is not None:
                    record.update(trainer.evaluate(holdout_batches, "holdout"))
                metrics.append(record)
                if not all(math.isfinite(record[k]) for k in ("train_loss", "val_loss")):
                    folder.append_metrics(record)
                    return write_summary(
                        "diverged", error=f"non-finite loss in epoch {record['epoch']}"
                    )
                folder.append_metrics(record)
                save_checkpoint(
                    folder,
                    model,
                    optimizer,
                    epoch + 1,
                    step,
                    seconds_before + time.perf_counter() - started,
                )
                write_summary("running")
                progress.epoch_done(record)
    except (KeyboardInterrupt, SystemExit):
        write_summary("running")  # resumable from the last checkpoint
        raise
    except Exception as err:
        write_summary("failed", error=f"{type(err).__name__}: {err}".splitlines()[0])
        raise
    return write_summary("completed")


class Trainer:
    """The method's four parts around one model, and one epoch of training / evaluation."""

    def __init__(
        self,
        cfg: RunConfig,
        env: Environment,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        num_classes: int,
    ) -> None:
        self.cfg = cfg
        self.env = env
        self.model = model
        self.forward = torch.compile(model) if cfg.compile else model
        self.optimizer = optimizer
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.objective = build_loss(cfg, num_classes)
        self.step_rule = build_step_rule(cfg)
        self.grad_transform = build_grad_transform(cfg)
        self.s_t = 0.0

    def loss_fn(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
        with self.env.autocast():
            logits = self.forward(images)
        return self.objective(logits, labels, self.s_t), logits

    def train_epoch(
        self, batches: DeviceBatches, epoch: int, step: int, total_steps: int, advance
    ) -> dict[str, Any]:
        cfg, device = self.cfg, self.env.device
        self.model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        lr = cfg.lr
        started = time.perf_counter()
        for images, labels in batches.batches(epoch, cfg.seed):
            lr = lr_at(cfg, step, total_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.s_t = smoothing_scale(cfg, step, total_steps)
            self.optimizer.zero_grad(set_to_none=True)
            loss, logits = self.step_rule(self.model, self.loss_fn, images, labels)
            self.grad_transform(self.params)
            self.optimizer.step()
            n = labels.shape[0]
            loss_sum += loss.float() * n
            correct += (logits.argmax(dim=1) == labels).sum()
            seen += n
            step += 1
            advance()
        # The one deliberate host sync of the epoch: read the on-device sums.
        train_loss = loss_sum.item() / seen
        train_acc = 100.0 * correct.item() / seen
        seconds = time.perf_counter() - started
        return {
            "epoch": epoch + 1,
            "step": step,
            "lr": lr,
            "s_t": self.s_t,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "epoch_seconds": seconds,
            "images_per_second": seen / seconds,
        }

    @torch.no_grad()
    def evaluate(self, batches: DeviceBatches, prefix: str = "val") -> dict[str, float]:
        self.model.eval()
        loss_sum = torch.zeros((), device=self.env.device)
        correct = torch.zeros((), device=self.env.device, dtype=torch.int64)
        seen = 0
        for images, labels in batches.batches(0, self.cfg.seed):
            with self.env.autocast():
                logits = self.forward(images)
            loss_sum += self.objective.validation_sum(logits, labels)
            correct += (logits.argmax(dim=1) == labels).sum()
            seen += labels.shape[0]
        # One sync per evaluation.
        return {
            f"{prefix}_loss": loss_sum.item() / seen,
            f"{prefix}_acc": 100.0 * correct.item() / seen,
        }


def save_checkpoint(
    folder: RunFolder,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    step: int,
    seconds: float,
) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "step": step,
            "seconds": seconds,
            "torch_rng": torch.get_rng_state(),
        },
        buffer,
    )
    atomic_write_bytes(folder.file(CHECKPOINT), buffer.getvalue())


def load_checkpoint(
    folder: RunFolder, model: nn.Module, optimizer: torch.optim.Optimizer, env: Environment
) -> tuple[int, int, float]:
    from rsmooth.errors import RsmoothError

    try:
        state = torch.load(folder.file(CHECKPOINT), map_location=env.device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except Exception as err:  # a truncated or foreign file
        raise RsmoothError(
            f"--resume {folder.path}: checkpoint.pt cannot be read ({type(err).__name__})"
        ) from None
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]), int(state["step"]), float(state["seconds"])

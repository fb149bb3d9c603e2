"""``PackedStepper``: K packed runs' training steps without run folders, for ``rsmooth bench``.

It is ``bench.MethodStepper`` for a pack: the same batches, per-run lr, s_t, step rule,
gradient transforms and optimizers as ``train_packed`` runs each step, on one synthetic split
that every run draws its own order from. ``run(steps)`` returns the images trained on (K per
sample), so its images/s compares with K separate ``MethodStepper``s' aggregate.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from rsmooth.config import RunConfig
from rsmooth.data import DATASETS, Split
from rsmooth.engine.environment import select_environment
from rsmooth.methods import lr_at
from rsmooth.pack.batches import PackedBatches
from rsmooth.pack.compat import packable
from rsmooth.pack.step import PackedStep, build_run


class PackedStepper:
    """Training steps of the packable runs ``cfgs`` on ``split``, as one packed model."""

    def __init__(self, cfgs: list[RunConfig], split: Split) -> None:
        self.cfgs = [c.resolve() for c in cfgs]
        ok, reason = packable(self.cfgs)
        if not ok:
            raise ValueError(f"these runs cannot share a pack: {reason}")
        first = self.cfgs[0]
        self.env = select_environment(first)
        spec = DATASETS.get(first.data)
        runs = [build_run(c, self.env, spec) for c in self.cfgs]
        self.step = PackedStep(runs, self.env, spec.num_classes)
        self.step.set_lrs([lr_at(c, 0, 1) for c in self.cfgs])
        self.batches = PackedBatches(
            [split] * len(runs),
            [c.seed for c in self.cfgs],
            spec,
            self.env.device,
            first.batch_size,
            channels_last=self.env.channels_last,
            dtype=next(runs[0].model.parameters()).dtype,
        )
        # MethodStepper's s_t = 0.5, for the runs that smooth (s_t is 0 without smoothing)
        s_t = [0.5 if c.smoothing else 0.0 for c in self.cfgs]
        self.s_t = torch.tensor(s_t, dtype=torch.float64, device=self.env.device)
        self.epoch = 0
        self.iterator: Iterator[tuple[torch.Tensor, torch.Tensor]] = iter(())

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return next(self.iterator)
        except StopIteration:
            self.epoch += 1
            self.iterator = iter(self.batches.batches(self.epoch))
            return next(self.iterator)

    def run(self, steps: int) -> int:
        """``steps`` training steps of every run; returns the images trained on (all runs)."""
        self.step.model.train()
        images_seen = 0
        for _ in range(steps):
            images, labels = self.next_batch()
            self.step(images, labels, self.s_t)
            images_seen += labels.numel()
        return images_seen

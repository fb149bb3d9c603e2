"""Timing, and the engine's own training steps on synthetic data.

Timing: blocks of ``steps`` training steps; on CUDA each block is bracketed by
``torch.cuda.synchronize()`` (the only syncs); the median block time over ``rounds`` rounds,
where each round times every contender once, in turn, so drifts (clocks, thermals, other
processes) hit all contenders alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from rsmooth.config import RunConfig
from rsmooth.data import DATASETS, DatasetSpec, Split
from rsmooth.engine.capture import step_for
from rsmooth.engine.environment import select_environment
from rsmooth.engine.packing import packable
from rsmooth.engine.step import Pack, build_run
from rsmooth.methods import lr_at
from rsmooth.parts import resolve


@dataclass
class Timing:
    name: str
    block_seconds: list[float]
    images_per_block: int
    steps: int = 1  # training steps per block
    peak_memory_mb: float | None = None

    @property
    def median_step_ms(self) -> float:
        return 1000 * statistics.median(self.block_seconds) / self.steps

    @property
    def images_per_second(self) -> float:
        return self.images_per_block / statistics.median(self.block_seconds)


def paired_ratio(numerator: Timing, denominator: Timing) -> float:
    """Median over rounds of the per-round ratio of block times. The blocks of one round run
    back to back, so this is robust to the drift of a shared machine, which moves whole
    rounds together (a ratio of medians taken at different moments is not)."""
    return statistics.median(round_ratios(numerator, denominator))


def round_ratios(numerator: Timing, denominator: Timing) -> list[float]:
    """The per-round ratios of block times, whose spread says how far a median can be trusted
    (on an H200, ResNet20's 20-step blocks moved a ratio by ±20% from round to round)."""
    return [a / b for a, b in zip(numerator.block_seconds, denominator.block_seconds, strict=True)]


def _quiet(text: str) -> None:
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_alternating(
    contenders: dict[str, Callable[[], int]],
    device: torch.device,
    rounds: int,
    warmup: int,
    steps: int,
    progress: Callable[[str], None] = _quiet,
) -> dict[str, Timing]:
    """Each contender (a callable running one block, returning the images it trained on)
    warmed up, then timed once per round, in turn."""
    timings = {name: Timing(name, [], 0, steps=steps) for name in contenders}
    for name, run in contenders.items():
        progress(f"  warming up {name}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(warmup):  # also triggers cuDNN autotuning and torch.compile
            run()
        if device.type == "cuda":
            timings[name].peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20
    for index in range(rounds):
        progress(f"  round {index + 1}/{rounds}")
        for name, run in contenders.items():
            _sync(device)
            start = time.perf_counter()
            images = run()
            _sync(device)
            timings[name].block_seconds.append(time.perf_counter() - start)
            timings[name].images_per_block = images
    return timings


def synthetic_split(spec: DatasetSpec, n: int, seed: int = 0) -> Split:
    """n random uint8 images in the data set's shape, with random labels (timing only)."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, spec.in_channels, spec.image_size, spec.image_size)
    images = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return Split(images, torch.randint(0, spec.num_classes, (n,), generator=g))


class Stepper:
    """Training steps of K >= 1 runs on one synthetic split, every run drawing its own order:
    the engine's own step (``train_step``; captured with cuda_graphs) on a ``Pack``, with each
    run's first-step lr and a mid-training s_t (0.5) for the runs that smooth. ``run(steps)``
    returns the images trained on (K per sample), so a pack's images/s compares with K
    separate steppers' aggregate."""

    def __init__(self, cfgs: Sequence[RunConfig], split: Split) -> None:
        self.cfgs = [resolve(c) for c in cfgs]
        ok, reason = packable(self.cfgs)
        if not ok:
            raise ValueError(f"these runs cannot share a pack: {reason}")
        first = self.cfgs[0]
        env = select_environment(first)
        spec = DATASETS.get(first.data)
        runs = [build_run(c, env, spec) for c in self.cfgs]
        self.device = env.device
        self.pack = Pack(runs, env, spec.num_classes)
        self.step = step_for(self.pack)
        self.batches = self.pack.batches([split] * len(runs), spec)
        self.lrs = [lr_at(c, 0, 1) for c in self.cfgs]
        s_t = [0.5 if c.smoothing else 0.0 for c in self.cfgs]
        self.s_t = torch.tensor(s_t, dtype=torch.float64, device=env.device)
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
        self.pack.model.train()
        images_seen = 0
        for _ in range(steps):
            images, labels = self.next_batch()
            self.step(images, labels, self.lrs, self.s_t)
            images_seen += labels.numel()
        return images_seen

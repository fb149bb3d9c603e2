"""Learning-rate schedules: pure functions of training progress u = step / total_steps."""

from __future__ import annotations

import math
from collections.abc import Callable

from rsmooth.config import RunConfig
from rsmooth.registry import Registry

Schedule = Callable[[float, RunConfig], float]  # (u in [0, 1], cfg) -> multiplier of cfg.lr

SCHEDULES: Registry[Schedule] = Registry("lr schedule", "lr_schedule")


@SCHEDULES.register("step", fields=("lr_drop_at", "lr_drop_factor"))
def step_schedule(u: float, cfg: RunConfig) -> float:
    """The paper's schedule: 0.1 for the first 75% of training, then 0.001 (Sec. 6)."""
    return 1.0 if u < cfg.lr_drop_at else cfg.lr_drop_factor


@SCHEDULES.register("cosine")
def cosine_schedule(u: float, cfg: RunConfig) -> float:
    """Cosine decay to 0 (the GR paper's protocol, docs/methods.md §4.1)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(u, 0.0), 1.0)))


@SCHEDULES.register("constant")
def constant_schedule(u: float, cfg: RunConfig) -> float:
    return 1.0


def lr_at(cfg: RunConfig, step: int, total_steps: int) -> float:
    """The learning rate at optimizer step ``step`` of ``total_steps``: a pure function."""
    assert cfg.lr is not None, "a resolved config has its lr"
    return cfg.lr * SCHEDULES.get(cfg.lr_schedule)(step / max(total_steps, 1), cfg)

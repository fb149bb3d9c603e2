"""What `rsmooth bench` times, every flag checked before anything is timed."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rsmooth.bench.catalogue import METHODS
from rsmooth.config import RunConfig
from rsmooth.data import DATASETS
from rsmooth.engine.environment import select_environment
from rsmooth.errors import ConfigError
from rsmooth.methods.optimizers import missing_package
from rsmooth.models import build_model
from rsmooth.parts import resolve


@dataclass(frozen=True)
class BenchSettings:
    """What to time, checked before anything runs (BenchSettings.checked)."""

    methods: tuple[str, ...]
    steps: int
    rounds: int
    warmup: int
    engine: bool = True
    methods_table: bool = True
    packs: tuple[int, ...] = ()  # K values: K runs packed vs the same K runs one by one

    @classmethod
    def checked(
        cls,
        base: RunConfig,
        *,
        methods: list[str] | None = None,
        steps: int | None = None,
        rounds: int | None = None,
        warmup: int = 1,
        engine: bool = True,
        methods_table: bool = True,
        packs: tuple[int, ...] = (),
    ) -> BenchSettings:
        """Validate every setting; the defaults fit the device: a CPU run of the defaults
        finishes in about two minutes on 2 cores, a GPU one times more, longer blocks."""
        for name in methods or []:
            if name not in METHODS:
                raise ConfigError("methods", name, list(METHODS))
            resolve(base.replace(**METHODS[name]))  # e.g. an optimizer's package is missing
        # All methods by default: those this Python can run (an optional package may be missing).
        if methods is None:
            left_out = not_runnable(base)
            methods = [m for m in METHODS if m not in left_out]
        if not (engine or methods_table or packs):
            raise ConfigError(
                "--skip-engine/--skip-methods", "both", "at most one of them: nothing to time"
            )
        for k in packs:
            if k < 1:
                raise ConfigError("pack", k, "integers >= 1")
        cuda = select_environment(base).device.type == "cuda"
        steps = steps if steps is not None else (20 if cuda else 3)
        rounds = rounds if rounds is not None else (9 if cuda else 5)
        for name, value, low in (("steps", steps, 1), ("rounds", rounds, 1), ("warmup", warmup, 0)):
            if value < low:
                raise ConfigError(name, value, f"an integer >= {low}")
        check_fits(base.replace(batch_size=base.batch_size * max(packs, default=1)))
        return cls(tuple(methods), steps, rounds, warmup, engine, methods_table, tuple(packs))


def not_runnable(base: RunConfig) -> dict[str, str]:
    """Method -> the package it needs and this Python lacks: left out of a default bench."""
    needs = {m: missing_package(c.get("optimizer", base.optimizer)) for m, c in METHODS.items()}
    return {m: package for m, package in needs.items() if package}


def check_fits(base: RunConfig) -> None:
    """Refuse a batch size whose activations cannot fit in the device's free memory, before
    allocating it: the activation bytes of one image, counted on a forward pass of 2 images,
    times 3 (the saved activations, their gradients and the workspace), times the batch."""
    env = select_environment(base)
    spec = DATASETS.get(base.data)
    model = build_model(base.model, spec.in_channels, spec.num_classes)
    elements = 0

    def count(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal elements
        if isinstance(output, torch.Tensor):
            elements += output.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(2, spec.in_channels, spec.image_size, spec.image_size))
    for hook in hooks:
        hook.remove()
    needed = 3 * 4 * elements / 2 * base.batch_size
    free = _free_memory(env.device)
    if free is not None and needed > free:
        raise ConfigError(
            "batch_size",
            base.batch_size,
            f"a batch whose activations fit: about {needed / 2**30:.1f} GiB needed, "
            f"{free / 2**30:.1f} GiB free on {env.device}",
        )


def _free_memory(device: torch.device) -> float | None:
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None

"""What each table of `rsmooth bench` times: every method against SGD, the engine against a
plain PyTorch loop, K packed runs against the same K runs one after another."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rsmooth.bench.catalogue import METHODS
from rsmooth.bench.harness import Stepper, Timing, synthetic_split, time_alternating
from rsmooth.bench.settings import BenchSettings
from rsmooth.config import RunConfig
from rsmooth.data import DATASETS
from rsmooth.engine.environment import select_environment
from rsmooth.methods import build_optimizer
from rsmooth.methods.losses import mse
from rsmooth.models import build_model
from rsmooth.parts import resolve

Progress = Callable[[str], None]


def bench_methods(
    base: RunConfig, names: list[str], settings: BenchSettings, progress: Progress
) -> dict[str, Timing]:
    """Step cost of each method; 'sgd' first, the reference."""
    spec = DATASETS.get(base.data)
    split = synthetic_split(spec, max(base.batch_size * (settings.steps + 1), 1024))
    steppers = {}
    for name in names:
        changes = dict(METHODS[name])
        if changes.get("step_rule") == "gr-db":
            changes["compile"] = False  # double backward does not go through torch.compile
        steppers[name] = Stepper([base.replace(**changes)], split)
    contenders: dict[str, Callable[[], int]] = {
        name: functools.partial(stepper.run, settings.steps) for name, stepper in steppers.items()
    }
    device = steppers[names[0]].device
    return _time(contenders, device, settings, progress)


def _time(
    contenders: dict[str, Callable[[], int]],
    device: torch.device,
    settings: BenchSettings,
    progress: Progress,
) -> dict[str, Timing]:
    return time_alternating(
        contenders, device, settings.rounds, settings.warmup, settings.steps, progress
    )


# ----------------------------------------------------------------------------- a plain loop
def _plain_loop_dataset(data: str, root: Path, n: int) -> Any:
    """The data set's torchvision class over files in its own on-disk format (synthetic images),
    with the per-sample transforms a user would write: what a plain PyTorch loop does."""
    from torchvision import transforms as T

    spec = DATASETS.get(data)
    steps: list[Any] = []
    if spec.augment:
        steps += [T.RandomCrop(spec.image_size, padding=4), T.RandomHorizontalFlip()]
    steps += [T.ToTensor(), T.Normalize(spec.mean, spec.std)]
    return spec.plain_dataset(root, n, T.Compose(steps))


class PlainLoop:
    """What a user writes by hand: torchvision dataset + DataLoader + eager fp32 + the paper's
    mse on softmax outputs + SGD."""

    def __init__(self, cfg: RunConfig, dataset: Any, device: torch.device) -> None:
        spec = DATASETS.get(cfg.data)
        torch.manual_seed(cfg.seed)
        self.num_classes = spec.num_classes
        self.model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.replace(optimizer="sgd"))
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=0,
            pin_memory=device.type == "cuda",
        )
        self.device = device
        self.iterator = iter(self.loader)

    def run(self, steps: int) -> int:
        self.model.train()
        seen = 0
        for _ in range(steps):
            try:
                images, labels = next(self.iterator)
            except StopIteration:
                self.iterator = iter(self.loader)
                images, labels = next(self.iterator)
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            target = F.one_hot(labels, self.num_classes).float()
            loss = mse(self.model(images), target).mean()
            loss.backward()
            self.optimizer.step()
            seen += labels.shape[0]
        return seen


def bench_engine(base: RunConfig, settings: BenchSettings, progress: Progress) -> dict[str, Timing]:
    """Engine (device-resident data, on-device augmentation, bf16/channels_last/compile per
    config) against the plain loop (fp32, DataLoader), same model, data shape and device."""
    cfg = resolve(base)
    env = select_environment(cfg)
    n = cfg.batch_size * (settings.steps * 2 + 2)
    with tempfile.TemporaryDirectory(prefix="rsmooth-bench-") as tmp:
        plain = PlainLoop(cfg, _plain_loop_dataset(cfg.data, Path(tmp), n), env.device)
        engine = Stepper([cfg], synthetic_split(DATASETS.get(cfg.data), n))
        contenders: dict[str, Callable[[], int]] = {
            "plain loop": functools.partial(plain.run, settings.steps),
            "engine": functools.partial(engine.run, settings.steps),
        }
        return _time(contenders, env.device, settings, progress)


# ----------------------------------------------------------------------------- packed runs
def _one_by_one(steppers: list[Stepper], steps: int) -> int:
    return sum(stepper.run(steps) for stepper in steppers)


def bench_packs(
    base: RunConfig, settings: BenchSettings, progress: Progress
) -> dict[int, dict[str, Timing]]:
    """K runs (seeds 0..K-1) packed into one model against the same K runs one after another,
    alternating (packing pays where the device idles between kernel launches,
    docs/performance.md)."""
    spec = DATASETS.get(base.data)
    split = synthetic_split(spec, max(base.batch_size * (settings.steps + 1), 1024))
    found = {}
    for k in settings.packs:
        progress(f"timing {k} runs packed against {k} separate runs")
        cfgs = [base.replace(seed=seed) for seed in range(k)]
        separate = [Stepper([cfg], split) for cfg in cfgs]
        packed = Stepper(cfgs, split)
        contenders: dict[str, Callable[[], int]] = {
            "separate": functools.partial(_one_by_one, separate, settings.steps),
            "packed": functools.partial(packed.run, settings.steps),
        }
        found[k] = _time(contenders, separate[0].device, settings, progress)
    return found

"""``rsmooth bench``: per-method step cost against plain SGD, and the engine against a plain
PyTorch loop, measured in one process, alternating, after warm-up (never in tests).

Timing: blocks of ``steps`` training steps; on CUDA each block is bracketed by
``torch.cuda.synchronize()`` (the only syncs); the median block time over ``rounds`` rounds,
where each round times every contender once, in turn, so drifts (clocks, thermals, other
processes) hit all contenders alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rsmooth.config import RunConfig
from rsmooth.data import DATASETS, DeviceBatches, Split
from rsmooth.engine.environment import select_environment
from rsmooth.engine.trainer import Trainer
from rsmooth.errors import ConfigError
from rsmooth.methods import build_optimizer
from rsmooth.models import build_model

# The methods of the three papers as config changes on top of plain SGD (METHODS.md §5).
METHODS: dict[str, dict[str, Any]] = {
    "sgd": {},
    "label-smoothing": {"label_smoothing": 0.1},
    "smoothing": {"anneal": "logistic", "b": 0.5},
    "flooding": {"flood": 0.02},
    "agr": {"grad_transform": "agr"},
    "sam": {"step_rule": "sam"},
    "gr-forward": {"step_rule": "gr-forward"},
    "gr-backward": {"step_rule": "gr-backward"},
    "gr-db": {"step_rule": "gr-db"},
    "adam": {"optimizer": "adam"},
    "adamw": {"optimizer": "adamw"},
    "adamw+agr": {"optimizer": "adamw", "grad_transform": "agr"},
    "adan": {"optimizer": "adan"},
}

# Issue targets: step time relative to SGD.
TARGETS = {"smoothing": 1.03, "agr": 1.05, "gr-forward": 2.1, "gr-backward": 2.1, "gr-db": 3.2}


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
    return statistics.median(
        a / b for a, b in zip(numerator.block_seconds, denominator.block_seconds, strict=True)
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_split(spec, n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    shape = (n, spec.in_channels, spec.image_size, spec.image_size)
    images = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return Split(images, torch.randint(0, spec.num_classes, (n,), generator=g))


class MethodStepper:
    """Runs training steps of one method on on-device batches, as the engine does."""

    def __init__(self, cfg: RunConfig, split: Split) -> None:
        self.cfg = cfg.resolve()
        self.env = select_environment(self.cfg)
        spec = DATASETS.get(self.cfg.data)
        torch.manual_seed(self.cfg.seed)
        model = build_model(self.cfg.model, spec.in_channels, spec.num_classes).to(self.env.device)
        if self.env.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model.parameters(), self.cfg)
        self.trainer = Trainer(self.cfg, self.env, model, optimizer, spec.num_classes)
        self.batches = DeviceBatches(
            split,
            spec,
            self.env.device,
            self.cfg.batch_size,
            train=True,
            channels_last=self.env.channels_last,
        )
        self.epoch = 0
        self.iterator = iter(())

    def next_batch(self):
        try:
            return next(self.iterator)
        except StopIteration:
            self.epoch += 1
            self.iterator = iter(self.batches.batches(self.epoch, self.cfg.seed))
            return next(self.iterator)

    def run(self, steps: int) -> int:
        trainer = self.trainer
        trainer.model.train()
        trainer.s_t = 0.5
        images_seen = 0
        for _ in range(steps):
            images, labels = self.next_batch()
            trainer.optimizer.zero_grad(set_to_none=True)
            trainer.step_rule(trainer.model, trainer.loss_fn, images, labels)
            trainer.grad_transform(trainer.params)
            trainer.optimizer.step()
            images_seen += labels.shape[0]
        return images_seen


def time_alternating(
    contenders: dict[str, Callable[[], int]],
    device: torch.device,
    rounds: int,
    warmup: int,
    steps: int,
) -> dict[str, Timing]:
    timings = {name: Timing(name, [], 0, steps=steps) for name in contenders}
    for name, run in contenders.items():
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(warmup):  # also triggers cuDNN autotuning and torch.compile
            run()
        if device.type == "cuda":
            timings[name].peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20
    for _ in range(rounds):
        for name, run in contenders.items():
            _sync(device)
            start = time.perf_counter()
            images = run()
            _sync(device)
            timings[name].block_seconds.append(time.perf_counter() - start)
            timings[name].images_per_block = images
    return timings


def bench_methods(
    base: RunConfig, methods: list[str], rounds: int, warmup: int, steps: int
) -> dict[str, Timing]:
    """Step cost of each method; 'sgd' is always measured, first, as the reference."""
    spec = DATASETS.get(base.data)
    split = synthetic_split(spec, max(base.batch_size * (steps + 1), 1024))
    names = ["sgd"] + [m for m in methods if m != "sgd"]
    steppers = {}
    for name in names:
        changes = dict(METHODS[name])
        if changes.get("step_rule") == "gr-db":
            changes["compile"] = False  # double backward does not go through torch.compile
        steppers[name] = MethodStepper(base.replace(**changes), split)
    env_device = steppers["sgd"].env.device
    contenders = {name: (lambda s=s: s.run(steps)) for name, s in steppers.items()}
    return time_alternating(contenders, env_device, rounds, warmup, steps)


# ----------------------------------------------------------------------------------------
# The engine against a plain PyTorch loop
# ----------------------------------------------------------------------------------------
def _plain_loop_dataset(data: str, root: Path, n: int):
    """A torchvision dataset read from files in its own on-disk format (synthetic images),
    with the per-sample transforms a user would write: what a plain PyTorch loop does."""
    import torchvision
    from torchvision import transforms as T

    from rsmooth.data.synthetic import write_cifar10, write_cifar100, write_fashion_mnist

    spec = DATASETS.get(data)
    normalize = T.Normalize(spec.mean, spec.std)
    if data in ("cifar10", "cifar100"):
        writer = write_cifar10 if data == "cifar10" else write_cifar100
        writer(root, n, 16)
        base = torchvision.datasets.CIFAR10 if data == "cifar10" else torchvision.datasets.CIFAR100

        class SyntheticCifar(base):
            # torchvision checks the md5 sums of the real files; everything else is its code.
            def _check_integrity(self) -> bool:
                return True

            def _load_meta(self) -> None:
                self.classes = [f"class{i}" for i in range(spec.num_classes)]

        aug = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
        return SyntheticCifar(
            str(root), train=True, transform=T.Compose([*aug, T.ToTensor(), normalize])
        )
    if data == "fashion-mnist":
        write_fashion_mnist(root / "FashionMNIST" / "raw", n, 16, gz=False)
        return torchvision.datasets.FashionMNIST(
            str(root), train=True, transform=T.Compose([T.ToTensor(), normalize])
        )
    raise ConfigError("data", data, "fashion-mnist, cifar10, cifar100 (plain-loop baseline)")


class PlainLoop:
    """What a user writes by hand: torchvision dataset + DataLoader + eager fp32 + CE-free mse."""

    def __init__(self, cfg: RunConfig, dataset, device: torch.device) -> None:
        from rsmooth.methods import build_loss

        spec = DATASETS.get(cfg.data)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
        self.loss = build_loss(cfg, spec.num_classes)
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
            loss = self.loss(self.model(images), labels, 0.0)
            loss.backward()
            self.optimizer.step()
            seen += labels.shape[0]
        return seen


def bench_engine(base: RunConfig, rounds: int, warmup: int, steps: int) -> dict[str, Timing]:
    """Engine (device-resident data, on-device augmentation, bf16/channels_last/compile per
    config) against the plain loop (fp32, DataLoader), same model, data shape and device."""
    cfg = base.resolve()
    env = select_environment(cfg)
    n = cfg.batch_size * (steps * 2 + 2)
    with tempfile.TemporaryDirectory(prefix="rsmooth-bench-") as tmp:
        plain = PlainLoop(cfg, _plain_loop_dataset(cfg.data, Path(tmp), n), env.device)
        engine = MethodStepper(cfg, synthetic_split(DATASETS.get(cfg.data), n))
        contenders = {"plain loop": lambda: plain.run(steps), "engine": lambda: engine.run(steps)}
        return time_alternating(contenders, env.device, rounds, warmup, steps)


# ----------------------------------------------------------------------------------------
def run_bench(
    base: RunConfig,
    methods: list[str],
    *,
    steps: int,
    rounds: int,
    warmup: int,
    engine: bool = True,
    methods_table: bool = True,
) -> dict[str, Any]:
    """Both measurements, as a JSON-able dict with a 'markdown' rendering."""
    env = select_environment(base)
    device_name = torch.cuda.get_device_name(env.device) if env.device.type == "cuda" else "cpu"
    header = (
        f"device: {device_name} ({env.device}, {torch.get_num_threads()} threads), "
        f"torch {torch.__version__}, model {base.model}, data shape {base.data}, "
        f"batch {base.batch_size}, precision {env.precision}, channels_last {env.channels_last}, "
        f"compile {base.compile}; median of {rounds} alternating blocks of {steps} steps; "
        "ratios: median over rounds of the per-round ratio"
    )
    out: dict[str, Any] = {"setup": header, "methods": [], "engine": []}
    lines = [header, ""]
    if methods_table:
        timings = bench_methods(base, methods, rounds, warmup, steps)
        reference = timings["sgd"]
        lines += [
            "| method | step ms (median) | images/s | peak MiB | × SGD | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, t in timings.items():
            ratio = paired_ratio(t, reference)
            target = TARGETS.get(name)
            row = {
                "method": name,
                "median_step_ms": t.median_step_ms,
                "images_per_second": t.images_per_second,
                "peak_memory_mb": t.peak_memory_mb,
                "ratio_to_sgd": ratio,
                "target": target,
                "block_seconds": t.block_seconds,
            }
            out["methods"].append(row)
            mem = f"{t.peak_memory_mb:,.0f}" if t.peak_memory_mb is not None else "-"
            verdict = (
                "" if target is None else f"≤ {target} {'ok' if ratio <= target else 'MISSED'}"
            )
            lines.append(
                f"| {name} | {t.median_step_ms:.2f} | {t.images_per_second:,.0f} | {mem} "
                f"| {ratio:.3f} | {verdict} |"
            )
        lines.append("")
    if engine:
        timings = bench_engine(base, rounds, warmup, steps)
        plain, ours = timings["plain loop"], timings["engine"]
        speedup = paired_ratio(plain, ours)
        target = 4.0 if env.device.type == "cuda" else 1.3
        lines += [
            "| loop | step ms (median) | images/s | speed-up |",
            "| --- | ---: | ---: | ---: |",
            f"| plain PyTorch (torchvision + DataLoader, eager fp32) | {plain.median_step_ms:.2f} "
            f"| {plain.images_per_second:,.0f} | 1.00 |",
            f"| rsmooth engine | {ours.median_step_ms:.2f} | {ours.images_per_second:,.0f} "
            f"| {speedup:.2f} (target ≥ {target}) |",
        ]
        out["engine"] = [
            {
                "loop": t.name,
                "median_step_ms": t.median_step_ms,
                "images_per_second": t.images_per_second,
                "block_seconds": t.block_seconds,
            }
            for t in (plain, ours)
        ]
        out["engine_speedup"] = speedup
    out["markdown"] = "\n".join(lines)
    return out

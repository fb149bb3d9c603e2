"""``rsmooth bench``: per-method step cost against plain SGD, and the engine against a plain
PyTorch loop, measured in one process, alternating, after warm-up (never in tests).

Timing: blocks of ``steps`` training steps; on CUDA each block is bracketed by
``torch.cuda.synchronize()`` (the only syncs); the median block time over ``rounds`` rounds,
where each round times every contender once, in turn, so drifts (clocks, thermals, other
processes) hit all contenders alike.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rsmooth.config import RunConfig
from rsmooth.data import DATASETS, DatasetSpec, DeviceBatches, Split
from rsmooth.engine.environment import select_environment
from rsmooth.engine.step import build_method, train_step
from rsmooth.errors import ConfigError
from rsmooth.methods import lr_at
from rsmooth.methods.optimizers import missing_package
from rsmooth.models import build_model

# The methods of the three papers as config changes on top of plain SGD (docs/methods.md §5).
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

# Step time relative to SGD that each method should stay within (docs/performance.md): its
# extra passes (SAM and F/B-GR 2, GR-DB about 3 with double backward) plus a little.
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


def synthetic_split(spec: DatasetSpec, n: int, seed: int = 0) -> Split:
    """n random uint8 images in the data set's shape, with random labels (timing only)."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, spec.in_channels, spec.image_size, spec.image_size)
    images = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return Split(images, torch.randint(0, spec.num_classes, (n,), generator=g))


class MethodStepper:
    """Runs training steps of one method on on-device batches: the engine's own ``train_step``,
    with the learning rate of the run's first step and a mid-training s_t (0.5)."""

    def __init__(self, cfg: RunConfig, split: Split) -> None:
        self.cfg = cfg.resolve()
        env = select_environment(self.cfg)
        spec = DATASETS.get(self.cfg.data)
        torch.manual_seed(self.cfg.seed)
        model = build_model(self.cfg.model, spec.in_channels, spec.num_classes).to(env.device)
        if env.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.method = build_method(self.cfg, env, model, spec.num_classes)
        self.batches = DeviceBatches(
            split,
            spec,
            env.device,
            self.cfg.batch_size,
            train=True,
            channels_last=env.channels_last,
        )
        self.lr = lr_at(self.cfg, 0, 1)
        self.epoch = 0
        self.iterator: Iterator[tuple[torch.Tensor, torch.Tensor]] = iter(())

    @property
    def device(self) -> torch.device:
        return self.method.env.device

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return next(self.iterator)
        except StopIteration:
            self.epoch += 1
            self.iterator = iter(self.batches.batches(self.epoch, self.cfg.seed))
            return next(self.iterator)

    def run(self, steps: int) -> int:
        self.method.model.train()
        images_seen = 0
        for _ in range(steps):
            images, labels = self.next_batch()
            train_step(self.method, images, labels, self.lr, s_t=0.5)
            images_seen += labels.shape[0]
        return images_seen


def time_alternating(
    contenders: dict[str, Callable[[], int]],
    device: torch.device,
    rounds: int,
    warmup: int,
    steps: int,
    progress: Callable[[str], None] = _quiet,
) -> dict[str, Timing]:
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


def bench_methods(
    base: RunConfig,
    methods: list[str],
    rounds: int,
    warmup: int,
    steps: int,
    progress: Callable[[str], None] = _quiet,
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
    env_device = steppers["sgd"].device
    contenders: dict[str, Callable[[], int]] = {
        name: functools.partial(stepper.run, steps) for name, stepper in steppers.items()
    }
    return time_alternating(contenders, env_device, rounds, warmup, steps, progress)


# ----------------------------------------------------------------------------------------
# The engine against a plain PyTorch loop
# ----------------------------------------------------------------------------------------
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
    """What a user writes by hand: torchvision dataset + DataLoader + eager fp32 + CE-free mse."""

    def __init__(self, cfg: RunConfig, dataset: Any, device: torch.device) -> None:
        from rsmooth.methods import build_loss, build_optimizer

        spec = DATASETS.get(cfg.data)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, spec.in_channels, spec.num_classes).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.replace(optimizer="sgd"))
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


def bench_engine(
    base: RunConfig,
    rounds: int,
    warmup: int,
    steps: int,
    progress: Callable[[str], None] = _quiet,
) -> dict[str, Timing]:
    """Engine (device-resident data, on-device augmentation, bf16/channels_last/compile per
    config) against the plain loop (fp32, DataLoader), same model, data shape and device."""
    cfg = base.resolve()
    env = select_environment(cfg)
    n = cfg.batch_size * (steps * 2 + 2)
    with tempfile.TemporaryDirectory(prefix="rsmooth-bench-") as tmp:
        plain = PlainLoop(cfg, _plain_loop_dataset(cfg.data, Path(tmp), n), env.device)
        engine = MethodStepper(cfg, synthetic_split(DATASETS.get(cfg.data), n))
        contenders: dict[str, Callable[[], int]] = {
            "plain loop": functools.partial(plain.run, steps),
            "engine": functools.partial(engine.run, steps),
        }
        return time_alternating(contenders, env.device, rounds, warmup, steps, progress)


# ----------------------------------------------------------------------------------------
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
            base.replace(**METHODS[name]).resolve()  # e.g. an optimizer's package is missing
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


def run_bench(
    base: RunConfig, settings: BenchSettings, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Both measurements, as a JSON-able dict with a 'markdown' rendering; ``progress`` is
    told when each part starts."""
    env = select_environment(base)
    steps, rounds, warmup = settings.steps, settings.rounds, settings.warmup
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
    if settings.methods_table:
        names = ["sgd"] + [m for m in settings.methods if m != "sgd"]
        progress(f"timing {len(names)} methods: {', '.join(names)}")
        timings = bench_methods(base, names, rounds, warmup, steps, progress)
        reference = timings["sgd"]
        lines += [
            "| method | step ms (median) | images/s | peak MiB | × SGD | per round | within |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, t in timings.items():
            ratio = paired_ratio(t, reference)
            spread = round_ratios(t, reference)
            target = TARGETS.get(name)
            row = {
                "method": name,
                "median_step_ms": t.median_step_ms,
                "images_per_second": t.images_per_second,
                "peak_memory_mb": t.peak_memory_mb,
                "ratio_to_sgd": ratio,
                "ratio_per_round": spread,
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
                f"| {ratio:.3f} | {min(spread):.2f}-{max(spread):.2f} | {verdict} |"
            )
        left_out = {m: p for m, p in not_runnable(base).items() if m not in settings.methods}
        if left_out:
            needs = ", ".join(f"{m} (needs {p})" for m, p in left_out.items())
            lines += ["", f"Not timed, a package missing: {needs}."]
            out["not_timed"] = left_out
        lines.append("")
    if settings.engine:
        progress("timing the engine against a plain PyTorch loop")
        timings = bench_engine(base, rounds, warmup, steps, progress)
        plain, ours = timings["plain loop"], timings["engine"]
        speedup = paired_ratio(plain, ours)
        spread = round_ratios(plain, ours)
        lines += [
            "| loop | step ms (median) | images/s | speed-up | per round |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| plain PyTorch (torchvision + DataLoader, eager fp32) | {plain.median_step_ms:.2f} "
            f"| {plain.images_per_second:,.0f} | 1.00 | |",
            f"| rsmooth engine | {ours.median_step_ms:.2f} | {ours.images_per_second:,.0f} "
            f"| {speedup:.2f} | {min(spread):.2f}-{max(spread):.2f} |",
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
        out["engine_speedup_per_round"] = spread
    if settings.packs:
        lines += ["", *bench_packs(base, settings, out, progress)]
    out["markdown"] = "\n".join(lines)
    return out


def _one_by_one(steppers: list[MethodStepper], steps: int) -> int:
    return sum(stepper.run(steps) for stepper in steppers)


def bench_packs(
    base: RunConfig, settings: BenchSettings, out: dict[str, Any], progress: Callable[[str], None]
) -> list[str]:
    """K runs (seeds 0..K-1) packed into one model against the same K runs one after another,
    alternating: aggregate images/s of both, and their ratio (issue: packing pays where the
    device idles between kernel launches, docs/performance.md)."""
    from rsmooth.pack import PackedStepper

    spec = DATASETS.get(base.data)
    steps, rounds, warmup = settings.steps, settings.rounds, settings.warmup
    split = synthetic_split(spec, max(base.batch_size * (steps + 1), 1024))
    lines = [
        "| K runs | separate images/s | packed images/s | packed / separate | per round |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    out["packs"] = []
    for k in settings.packs:
        progress(f"timing {k} runs packed against {k} separate runs")
        cfgs = [base.replace(seed=seed) for seed in range(k)]
        separate = [MethodStepper(cfg, split) for cfg in cfgs]
        packed = PackedStepper(cfgs, split)

        contenders: dict[str, Callable[[], int]] = {
            "separate": functools.partial(_one_by_one, separate, steps),
            "packed": functools.partial(packed.run, steps),
        }
        device = separate[0].device
        timings = time_alternating(contenders, device, rounds, warmup, steps, progress)
        ratio = paired_ratio(timings["separate"], timings["packed"])
        spread = round_ratios(timings["separate"], timings["packed"])
        out["packs"].append(
            {
                "k": k,
                "separate_images_per_second": timings["separate"].images_per_second,
                "packed_images_per_second": timings["packed"].images_per_second,
                "packed_over_separate": ratio,
                "packed_over_separate_per_round": spread,
            }
        )
        lines.append(
            f"| {k} | {timings['separate'].images_per_second:,.0f} "
            f"| {timings['packed'].images_per_second:,.0f} | {ratio:.2f} "
            f"| {min(spread):.2f}-{max(spread):.2f} |"
        )
    return lines

"""Golden run records: tiny float64 CPU runs of every registered part, unpacked and packed.

Recorded once from the engine before the one-engine redesign (``python -m tests.goldens``
writes tests/goldens.json); tests/test_goldens.py trains the same cases with today's engine and
compares every epoch's losses and accuracies, and each run's final parameters, to ~1e-10
relative (machines differ in their CPU instruction sets, which changes rounding: no bitwise
comparison across machines).

The cases come from the registries: one case per registered step rule, loss, anneal, gradient
transform and optimizer, plus the loss options (label smoothing, flooding) and the step-rule
and smoothing options that change the maths. Each case is trained alone, and as a pack of two
runs that differ in the case's own hyperparameter and in the seed (where the case packs).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rsmooth.config import RunConfig
from rsmooth.data.synthetic import write_synthetic
from rsmooth.parts import load_parts
from rsmooth.registry import Registry
from tests.fixtures import tiny_config

GOLDENS = Path(__file__).with_name("goldens.json")
RTOL = 1e-10
# Epoch-record keys that are numbers of the run (not timings).
KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "holdout_loss", "holdout_acc")

# A field that selects a part -> the hyperparameter that tells two runs of a pack apart, per
# part name ("" = the same value for every part of that kind). Parts without an entry vary
# only the seed.
VARIED: dict[str, dict[str, tuple[str, Any]]] = {
    "step_rule": {
        "sam": ("rho", 0.2),
        "gr-db": ("gr_gamma", 0.05),
        "gr-forward": ("gr_gamma", 0.05),
        "gr-backward": ("gr_gamma", 0.05),
    },
    "anneal": {"laplace": ("b", 0.9), "logistic": ("b", 0.9), "constant": ("s0", 0.5)},
    "optimizer": {"": ("weight_decay", 5e-3)},
    "loss": {"": ("weight_decay", 5e-3)},
    "grad_transform": {"": ("weight_decay", 5e-3)},
}
# What a case of each kind sets besides its part (the part's usual company).
COMPANY: dict[str, dict[str, Any]] = {
    "step_rule": {"gr_gamma": 0.02, "gr_eps": 0.01},
    "anneal": {},
    "loss": {},
    "grad_transform": {},
    "optimizer": {},
}
# Options of parts that change the maths, each a case of its own.
OPTIONS: dict[str, dict[str, Any]] = {
    "label-smoothing": {"loss": "ce", "label_smoothing": 0.1},
    "flood": {"flood": 0.3},
    "gr-normalize": {"step_rule": "gr-forward", "gr_normalize": True, "gr_eps": 0.05},
    "smoothing-kappa-grad": {"anneal": "logistic", "detach_kappa": False},
    "smoothing-layers": {"anneal": "laplace", "layers": 2},
    "smoothing-global": {"anneal": "laplace", "scheme": "global", "alpha": 0.0},
    "nesterov": {"nesterov": True},
    "holdout": {"holdout": 0.25},
}
VARIED_OPTIONS: dict[str, tuple[str, Any]] = {
    "label-smoothing": ("label_smoothing", 0.2),
    "flood": ("flood", 0.1),
    "gr-normalize": ("gr_eps", 0.1),
    "smoothing-kappa-grad": ("alpha", 2.0),
    "smoothing-layers": ("b", 0.9),
    "smoothing-global": ("b", 0.9),
    "nesterov": ("momentum", 0.5),
    "holdout": ("weight_decay", 5e-3),
}


@dataclass(frozen=True)
class Case:
    name: str
    fields: dict[str, Any]
    varied: tuple[str, Any] | None  # the second packed run's own hyperparameter
    packed_seeds: tuple[int, int] = (0, 1)
    extra: dict[str, Any] = field(default_factory=dict)


def builtin(registry: Registry) -> list[str]:
    """The names of the parts rsmooth itself registers (a test's own parts are left out)."""
    return [n for n in registry.names() if registry.module(n).startswith("rsmooth.")]


def cases() -> list[Case]:
    """Every golden case, in a stable order: the registries' parts, then the options."""
    registries = load_parts()
    found: list[Case] = []
    for kind in ("step_rule", "loss", "anneal", "grad_transform", "optimizer"):
        for name in builtin(registries[kind]):
            fields = {kind: name, **COMPANY[kind]}
            per_part = VARIED[kind]
            varied = per_part.get(name, per_part.get(""))
            found.append(Case(f"{kind}={name}", fields, varied))
    for name, fields in OPTIONS.items():
        # holdout > 0 with two seeds holds out two different parts: equal seeds in its pack
        seeds = (0, 0) if fields.get("holdout") else (0, 1)
        found.append(Case(f"option={name}", fields, VARIED_OPTIONS[name], seeds))
    return found


def config(case: Case, data_dir: Path, seed: int = 0, varied: bool = False) -> RunConfig:
    """The case's run: 3 steps of 8 images per epoch, 2 epochs, one thread, no autocast."""
    values: dict[str, Any] = {"seed": seed, **case.fields}
    if varied and case.varied is not None:
        values[case.varied[0]] = case.varied[1]
    return tiny_config(data_dir, **values)


@contextmanager
def float64() -> Iterator[None]:
    """Models in float64, and with them the batches (the engine's batches take the model's
    dtype; it has no float64 mode of its own)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def record_of(folder: Path) -> dict[str, Any]:
    """A run folder's golden record: its epochs' numbers and its final parameters' digest."""
    epochs = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        entry = json.loads(line)
        epochs.append({k: entry[k] for k in KEYS if k in entry})
    state = torch.load(folder / "checkpoint.pt", weights_only=False)["model"]
    digest = {
        name: [float(t.double().sum()), float(t.double().square().sum())]
        for name, t in state.items()
        if t.is_floating_point()
    }
    return {"epochs": epochs, "params": digest}


def train_case(case: Case, data_dir: Path, out: Path, packed: bool) -> list[dict[str, Any]]:
    """Train the case alone (one record) or as a pack of two (two records, in order)."""
    from rsmooth.engine import train_run, train_runs
    from rsmooth.engine.packing import packable

    with float64():
        if not packed:
            train_run(config(case, data_dir), out / "alone", quiet=True)
            return [record_of(out / "alone")]
        first, second = case.packed_seeds
        cfgs = [config(case, data_dir, first), config(case, data_dir, second, varied=True)]
        if not packable(cfgs)[0]:
            return []
        folders = [out / "packed0", out / "packed1"]
        train_runs(cfgs, folders, quiet=True)
        return [record_of(f) for f in folders]


def second_run(case: Case) -> Case:
    """The case's second packed run as a case of its own (its seed and hyperparameter)."""
    fields = dict(case.fields, seed=case.packed_seeds[1])
    if case.varied is not None:
        fields[case.varied[0]] = case.varied[1]
    return Case(f"{case.name} (second run)", fields, None)


def data_dir(root: Path) -> Path:
    return write_synthetic("fashion-mnist", root, 24, 16)


def compare(ours: dict[str, Any], golden: dict[str, Any], rtol: float = RTOL) -> list[str]:
    """Where a record differs from its golden by more than ``rtol`` (relative), as lines."""
    problems = []
    if len(ours["epochs"]) != len(golden["epochs"]):
        return [f"{len(ours['epochs'])} epochs, golden {len(golden['epochs'])}"]
    for i, (a, b) in enumerate(zip(ours["epochs"], golden["epochs"], strict=True)):
        if set(a) != set(b):
            problems.append(f"epoch {i + 1}: keys {sorted(a)} != golden {sorted(b)}")
        for key in set(a) & set(b):
            if not _close(a[key], b[key], rtol):
                problems.append(f"epoch {i + 1} {key}: {a[key]!r} != golden {b[key]!r}")
    if set(ours["params"]) != set(golden["params"]):
        problems.append("parameter names differ")
    for name in set(ours["params"]) & set(golden["params"]):
        pairs = zip(ours["params"][name], golden["params"][name], strict=True)
        for what, (a, b) in zip(("sum", "sum of squares"), pairs, strict=True):
            if not _close(a, b, rtol, scale=golden["params"][name][1] ** 0.5):
                problems.append(f"{name} {what}: {a!r} != golden {b!r}")
    return problems


def _close(a: Any, b: Any, rtol: float, scale: float = 0.0) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    # A parameter's sum may be near 0 where its terms are not: relative to their size.
    return abs(a - b) <= rtol * max(abs(a), abs(b), scale) + 1e-300


def record(path: Path = GOLDENS) -> None:
    """Train every case alone and packed; write their records to ``path``."""
    import tempfile

    torch.set_num_threads(1)
    out: dict[str, Any] = {"cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = data_dir(root / "data")
        for case in cases():
            here = root / case.name.replace("=", "-")
            out["cases"][case.name] = {
                "alone": train_case(case, data, here, packed=False),
                "packed": train_case(case, data, here, packed=True),
            }
            print(case.name, file=sys.stderr, flush=True)
    path.write_text(json.dumps(out, sort_keys=True) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDENS)

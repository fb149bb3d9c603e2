"""Group runs into configurations (trials over seeds) and select the best of each method on a
chosen split.

Only completed runs enter the numbers; the others are counted per configuration so the report
can list them. A run belongs to a stage: the grid, or the confirmation runs a sweep made of the
grid's winners on fresh seeds (run folders under ``confirm/``, docs/run-folder.md). Selection
uses the ``select`` split (``val``: the test split, the paper's protocol; ``holdout``: the
held-out part of the training set), the reported numbers are always the test split's
(docs/methods.md §6). What a run's method is comes from its folder (rsmooth.report.labels).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsmooth.report.cost import Cost, cost
from rsmooth.report.labels import FIELD_ORDER, Method, method_of
from rsmooth.report.stats import Summary, summarize
from rsmooth.runfolder import COMPLETED, FOREIGN, PAPER_METRICS, Run

METRICS = PAPER_METRICS
SELECT_SPLITS = ("val", "holdout")
GRID, CONFIRM = "grid", "confirm"  # the stages; CONFIRM is also the sweep's folder name
# What must match for a baseline to be a fair reference: the same model, data, training
# fraction, held-out fraction and protocol; optimizer, weight decay, lr and regularizer differ.
# A baseline trained for more epochs is the equal-compute reference of a costlier method.
BASELINE_CONTEXT = (
    "model",
    "data",
    "subset",
    "holdout",
    "epochs",
    "batch_size",
    "lr_schedule",
    "loss",
)


@dataclass
class Configuration:
    key: str  # the stage and the method's identity
    method: Method  # what the runs' folders say their method is
    stage: str = GRID
    variant: str | None = None  # the sweep variant (from the run folders' layout), if any
    runs: list[Run] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        """The configuration's fields (unused ones None; no seed, no engine fields)."""
        return self.method.identity

    @property
    def label(self) -> str:
        return self.method.label

    @property
    def kind(self) -> str:
        return self.method.kind

    @property
    def completed(self) -> list[Run]:
        return [r for r in self.runs if r.status == COMPLETED]

    @property
    def seeds(self) -> list[Any]:
        return [(r.config or {}).get("seed") for r in self.completed]

    def values(self, metric: str, split: str = "val") -> list[float]:
        """The per-trial numbers of the completed runs, in seed order."""
        return [r.metric(metric, split) for r in self.completed]

    def stats(self, metric: str, split: str = "val") -> Summary:
        values = self.values(metric, split)
        return summarize([] if any(math.isnan(v) for v in values) else values)

    @property
    def n(self) -> int:
        return len(self.completed)

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r.status == status)

    @functools.cached_property
    def cost(self) -> Cost:
        """What its completed runs cost to train (asked for after the runs are grouped)."""
        return cost(self.completed, self.method.evaluations_per_step)


def stage_and_variant(run: Run, roots: list[Path]) -> tuple[str, str | None]:
    """Where a run sits in a sweep's layout: ``[confirm/]<variant>/<axes>/seed=<n>``."""
    for root in roots:
        try:
            parts = list(run.path.relative_to(root).parts)
        except ValueError:
            continue
        stage = GRID
        if parts and parts[0] == CONFIRM:
            stage, parts = CONFIRM, parts[1:]
        # A variant is a name without "=" above the axes and seed levels.
        variant = parts[0] if len(parts) >= 2 and "=" not in parts[0] else None
        return stage, variant
    return GRID, None


def group_runs(runs: list[Run], roots: list[Path] | None = None) -> list[Configuration]:
    """Runs with equal configurations (seed and engine fields aside) in one stage form one
    configuration. Unreadable and foreign runs belong to none (the report lists them)."""
    groups: dict[str, Configuration] = {}
    for run in runs:
        if run.config is None or run.status == FOREIGN:
            continue
        method = method_of(run)
        stage, variant = stage_and_variant(run, roots or [])
        key = f"{stage}:{method.key}"
        if key not in groups:
            groups[key] = Configuration(key, method, stage, variant)
        groups[key].runs.append(run)
    for configuration in groups.values():
        configuration.runs.sort(
            key=lambda r: (_sortable((r.config or {}).get("seed")), str(r.path))
        )
    return sorted(groups.values(), key=sort_key)


def _sortable(value: Any) -> tuple[int, float, str]:
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (bool, int, float)):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def is_baseline(configuration: Configuration) -> bool:
    """Plain SGD: the baseline every method is compared with (directly, or through the plain
    configuration of its own optimizer)."""
    return configuration.method.plain and configuration.method.optimizer == "sgd"


def sort_key(configuration: Configuration) -> tuple[Any, ...]:
    """Stage, context (model, data, ratio, ...), then the SGD baseline, then the methods."""
    cfg = configuration.config
    context = tuple(_sortable(cfg.get(name)) for name in BASELINE_CONTEXT)
    rest = tuple(
        _sortable(cfg.get(name)) for name in sorted(cfg, key=lambda n: FIELD_ORDER.get(n, 999))
    )
    stage = 0 if configuration.stage == CONFIRM else 1
    return (stage, context, 0 if is_baseline(configuration) else 1, configuration.kind, rest)


def varying_fields(configurations: list[Configuration], shown: list[str]) -> list[str]:
    """Of the ``shown`` fields, those whose values differ across the configurations (None, a
    field the configuration does not use, does not count as a different value)."""
    return [
        name
        for name in shown
        if len({repr(c.config.get(name)) for c in configurations} - {"None"}) > 1
    ]


def score(configuration: Configuration, metric: str, split: str) -> float:
    """The selection score: the mean over trials of ``metric`` on ``split`` (nan: none)."""
    return configuration.stats(metric, split).mean if configuration.n else math.nan


def best(
    configurations: list[Configuration], metric: str, split: str = "val"
) -> Configuration | None:
    """The configuration with the highest mean over trials of ``metric`` on ``split`` (the
    paper's "best of the grid" with split val); configurations without a completed trial or
    without that split's number cannot be best. Ties go to the one listed first."""
    scored = [c for c in configurations if not math.isnan(score(c, metric, split))]
    if not scored:
        return None
    top = max(score(c, metric, split) for c in scored)
    return next(c for c in scored if score(c, metric, split) == top)


def baseline_context(config: dict[str, Any], without: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(repr(config.get(name)) for name in BASELINE_CONTEXT if name not in without)


def shared_seeds(a: Configuration, b: Configuration) -> list[Any] | None:
    """The seeds both sides completed, in order, when they completed the same ones once each;
    None otherwise (a side without seeds, a seed twice, or seeds only one side has)."""
    mine, theirs = a.seeds, b.seeds
    if None in mine or len(set(mine)) != len(mine) or len(set(theirs)) != len(theirs):
        return None
    if set(mine) != set(theirs):
        return None
    return sorted(mine, key=repr)


def paired_values(
    a: Configuration, b: Configuration, metric: str
) -> tuple[list[float], list[float]] | None:
    """``metric`` of both sides matched seed by seed (shared_seeds' order); None where the
    sides did not complete the same seeds once each."""
    seeds = shared_seeds(a, b)
    if seeds is None:
        return None
    mine = dict(zip(a.seeds, a.values(metric), strict=True))
    theirs = dict(zip(b.seeds, b.values(metric), strict=True))
    return [mine[s] for s in seeds], [theirs[s] for s in seeds]

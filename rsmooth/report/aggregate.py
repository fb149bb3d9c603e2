"""Group runs into configurations (trials over seeds), select the best of each method on a
chosen split, and compare each method with the tuned SGD baseline of its context.

Only completed runs enter the numbers; the others are counted per configuration so the report
can list them. A run belongs to a stage: the grid, or the confirmation runs a sweep made of the
grid's winners on fresh seeds (run folders under ``confirm/``, docs/run-folder.md). Selection
uses the ``select`` split (``val``: the test split, the paper's protocol; ``holdout``: the
held-out part of the training set), the reported numbers are always the test split's
(docs/methods.md §6).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsmooth.config import field_names
from rsmooth.plugins import load_recorded
from rsmooth.report.labels import config_key, is_plain, method_kind, method_label, normalize
from rsmooth.report.stats import Difference, Summary, holm, summarize, welch
from rsmooth.runfolder import COMPLETED, PAPER_METRICS, Run

METRICS = PAPER_METRICS
SELECT_SPLITS = ("val", "holdout")
GRID, CONFIRM = "grid", "confirm"  # the stages; CONFIRM is also the sweep's folder name
# What must match for the SGD baseline to be a fair reference: the same model, data, training
# fraction, held-out fraction and protocol; optimizer, weight decay, lr and regularizer differ.
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
FIELD_ORDER = {name: i for i, name in enumerate(field_names())}


@dataclass
class Configuration:
    key: str
    config: dict[str, Any]  # normalized (labels.normalize): unused fields are None
    label: str
    stage: str = GRID
    variant: str | None = None  # the sweep variant (from the run folders' layout), if any
    runs: list[Run] = field(default_factory=list)

    @property
    def completed(self) -> list[Run]:
        return [r for r in self.runs if r.status == COMPLETED]

    @property
    def kind(self) -> str:
        return method_kind(self.config)

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
    configuration."""
    load_recorded((run.config or {}).get("plugins") for run in runs)  # their parts' fields
    groups: dict[str, Configuration] = {}
    for run in runs:
        if run.config is None:
            continue  # unreadable: listed by the report, belongs to no configuration
        stage, variant = stage_and_variant(run, roots or [])
        key = f"{stage}:{config_key(run.config)}"
        if key not in groups:
            config = normalize(run.config)
            groups[key] = Configuration(key, config, method_label(config), stage, variant)
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


def is_baseline(config: dict[str, Any]) -> bool:
    """Plain SGD: the baseline every method is compared with."""
    return config.get("optimizer") == "sgd" and is_plain(config)


def sort_key(configuration: Configuration) -> tuple[Any, ...]:
    """Stage, context (model, data, ratio, ...), then the SGD baseline, then the methods."""
    cfg = configuration.config
    context = tuple(_sortable(cfg.get(name)) for name in BASELINE_CONTEXT)
    rest = tuple(
        _sortable(cfg.get(name)) for name in sorted(cfg, key=lambda n: FIELD_ORDER.get(n, 999))
    )
    stage = 0 if configuration.stage == CONFIRM else 1
    return (stage, context, 0 if is_baseline(cfg) else 1, configuration.kind, rest)


def varying_fields(configurations: list[Configuration], shown: list[str]) -> list[str]:
    """Of the ``shown`` fields, those whose values differ across the configurations (None, a
    field the configuration does not use, does not count as a different value)."""
    return [
        name
        for name in shown
        if len({repr(c.config.get(name)) for c in configurations} - {"None"}) > 1
    ]


def best(
    configurations: list[Configuration], metric: str, split: str = "val"
) -> Configuration | None:
    """The configuration with the highest mean over trials of ``metric`` on ``split`` (the
    paper's "best of the grid" with split val); configurations without a completed trial or
    without that split's number cannot be best. Ties go to the one listed first."""
    scored = [c for c in configurations if c.n > 0 and not math.isnan(c.stats(metric, split).mean)]
    if not scored:
        return None
    top = max(c.stats(metric, split).mean for c in scored)
    return next(c for c in scored if c.stats(metric, split).mean == top)


def baseline_context(config: dict[str, Any]) -> tuple[str, ...]:
    return tuple(repr(config.get(name)) for name in BASELINE_CONTEXT)


# ----------------------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class Row:
    """One method of a comparison table: its selected configuration against the baseline."""

    configuration: Configuration
    searched: int  # configurations of this method searched (the grid's, for confirmed ones)
    difference: Difference | None  # None for the baseline itself
    holm_p: float = math.nan

    @property
    def is_baseline(self) -> bool:
        return self.difference is None


@dataclass(frozen=True)
class Comparison:
    """The methods of one stage and context, each the best of its grid (or its confirmed
    winner), against the SGD baseline chosen the same way."""

    stage: str
    context: dict[str, Any]
    baseline: Configuration
    rows: list[Row]  # the baseline first


def compare(configurations: list[Configuration], metric: str, select: str) -> list[Comparison]:
    """Per stage and context: select the best configuration of each method kind on ``select``
    by ``metric``, and compare its test-split ``metric`` with the baseline's (Welch), Holm-
    adjusted across the methods of the table."""
    tables: list[Comparison] = []
    grid = [c for c in configurations if c.stage == GRID]
    for stage in (CONFIRM, GRID):
        staged = [c for c in configurations if c.stage == stage]
        contexts: dict[tuple[str, ...], list[Configuration]] = {}
        for c in staged:
            contexts.setdefault(baseline_context(c.config), []).append(c)
        for members in contexts.values():
            kinds: dict[str, list[Configuration]] = {}
            for c in members:
                kinds.setdefault(c.kind, []).append(c)
            if stage == CONFIRM:
                # The sweep chose these on its own split: no second choice here (a choice on
                # the test split would undo the point of confirming).
                chosen = [c for c in members if c.n > 0]
            else:
                chosen = [c for c in (best(g, metric, select) for g in kinds.values()) if c]
            baselines = [c for c in chosen if is_baseline(c.config)]
            if not baselines:
                continue
            baseline = baselines[0]
            rows = []
            for configuration in chosen:
                searched = _searched(configuration, kinds[configuration.kind], grid, stage)
                difference = (
                    None
                    if configuration is baseline
                    else welch(configuration.values(metric), baseline.values(metric))
                )
                rows.append(Row(configuration, searched, difference))
            rows.sort(key=lambda r: (not r.is_baseline, sort_key(r.configuration)))
            adjusted = iter(holm([r.difference.p for r in rows if r.difference is not None]))
            rows = [
                r if r.is_baseline else dataclasses.replace(r, holm_p=next(adjusted)) for r in rows
            ]
            context = {name: baseline.config.get(name) for name in BASELINE_CONTEXT}
            tables.append(Comparison(stage, context, baseline, rows))
    return tables


def _searched(
    configuration: Configuration,
    same_kind: list[Configuration],
    grid: list[Configuration],
    stage: str,
) -> int:
    """How many configurations the selection of this row chose from: for a grid row, those of
    its kind; for a confirmed row, the grid configurations of its variant (its kind when the
    layout names no variant) in its context."""
    if stage == GRID:
        return len(same_kind)
    context = baseline_context(configuration.config)
    pool = [c for c in grid if baseline_context(c.config) == context]
    if configuration.variant is not None:
        return sum(1 for c in pool if c.variant == configuration.variant)
    return sum(1 for c in pool if c.kind == configuration.kind)

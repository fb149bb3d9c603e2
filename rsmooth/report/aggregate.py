"""Group runs into configurations (trials over seeds), summarize them, compare with SGD.

Only completed runs enter the numbers; the others are counted per configuration so the
report can list them. Per configuration and metric (max, mean; docs/methods.md §2): the mean over
trials, the sample standard deviation, a 95% t-interval and n.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rsmooth.config import RunConfig
from rsmooth.report.labels import (
    config_key,
    is_plain,
    method_kind,
    method_label,
    normalize,
    setting_fields,
)
from rsmooth.report.stats import Summary, WelchTest, summarize, welch_test
from rsmooth.runfolder import COMPLETED, Run

METRICS = ("max", "mean")
# What must match for the SGD baseline to be a fair reference: the same model, data,
# training fraction and protocol; optimizer, weight decay, lr and the regularizer may differ.
BASELINE_CONTEXT = ("model", "data", "subset", "epochs", "batch_size", "lr_schedule", "loss")
# Config fields in RunConfig order, so tables list them in the order the config does.
FIELD_ORDER = {name: i for i, name in enumerate(RunConfig.field_names())}


@dataclass
class Configuration:
    key: str
    config: dict[str, Any]  # normalized (labels.normalize): unused fields are None
    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def completed(self) -> list[Run]:
        return [r for r in self.runs if r.status == COMPLETED]

    @property
    def seeds(self) -> list[Any]:
        return [r.config.get("seed") for r in self.completed if r.config]

    def values(self, metric: str) -> list[float]:
        """The per-trial numbers of the completed runs, in seed order."""
        return [r.metric(metric) for r in self.completed]

    def stats(self, metric: str) -> Summary:
        return summarize(self.values(metric))

    @property
    def n(self) -> int:
        return len(self.completed)

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r.status == status)


def group_runs(runs: list[Run]) -> list[Configuration]:
    """Runs with equal configurations (seed and engine fields aside) form one configuration."""
    groups: dict[str, Configuration] = {}
    for run in runs:
        if run.config is None:
            continue  # unreadable: listed by the report, belongs to no configuration
        key = config_key(run.config)
        if key not in groups:
            config = normalize(run.config)
            groups[key] = Configuration(key, config, method_label(config))
        groups[key].runs.append(run)
    for configuration in groups.values():
        configuration.runs.sort(
            key=lambda r: (_sortable((r.config or {}).get("seed")), str(r.path))
        )
    return sorted(groups.values(), key=sort_key)


def _sortable(value: Any) -> tuple:
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, bool):
        return (1, float(value), "")
    if isinstance(value, (int, float)):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def sort_key(configuration: Configuration) -> tuple:
    """Context first (model, data, ratio, ...), then the plain SGD baseline, then methods."""
    cfg = configuration.config
    context = tuple(_sortable(cfg.get(name)) for name in BASELINE_CONTEXT)
    baseline_first = 0 if (cfg.get("optimizer") == "sgd" and is_plain(cfg)) else 1
    rest = tuple(
        _sortable(cfg.get(name)) for name in sorted(cfg, key=lambda n: FIELD_ORDER.get(n, 999))
    )
    return (context, baseline_first, method_kind(cfg), rest)


def varying_fields(configurations: list[Configuration]) -> list[str]:
    """Setting fields (not spelled out by the method label) whose values differ across rows.

    None marks a field the configuration does not use (SGD momentum under Adam): it does not
    count as a different value.
    """
    names: set[str] = set()
    for configuration in configurations:
        names.update(configuration.config)
    settings = set(setting_fields())
    varying = [
        name
        for name in names
        if name in settings
        and len({repr(c.config.get(name)) for c in configurations} - {"None"}) > 1
    ]
    return sorted(varying, key=lambda n: FIELD_ORDER.get(n, 999))


def best(configurations: list[Configuration], metric: str) -> Configuration | None:
    """The configuration with the highest mean over trials of ``metric`` (the paper's
    "best of the grid"); configurations without a completed trial cannot be best."""
    scored = [c for c in configurations if c.n > 0]
    if not scored:
        return None
    return max(scored, key=lambda c: (c.stats(metric).mean, c.n))


@dataclass(frozen=True)
class Comparison:
    """One configuration against the SGD baseline of its context."""

    baseline: Configuration
    delta: float  # mean over trials: this configuration - baseline
    test: WelchTest | None  # None: undefined (fewer than 2 trials, or no spread)
    is_baseline: bool

    @property
    def significant(self) -> bool:
        return self.test is not None and self.test.p < 0.05


def baseline_context(config: dict[str, Any]) -> tuple:
    return tuple(repr(config.get(name)) for name in BASELINE_CONTEXT)


def compare_to_baseline(configurations: list[Configuration], metric: str) -> dict[str, Comparison]:
    """Welch's t-test of each configuration's per-trial ``metric`` against the baseline.

    The baseline of a context is its plain SGD configuration (no label smoothing, residual
    smoothing, flooding, gradient transform or step rule); with several (a weight-decay grid),
    the best by ``metric``. Configurations whose context has no baseline are left out.
    """
    baselines: dict[tuple, Configuration] = {}
    for context in {baseline_context(c.config) for c in configurations}:
        candidates = [
            c
            for c in configurations
            if baseline_context(c.config) == context
            and c.config.get("optimizer") == "sgd"
            and is_plain(c.config)
        ]
        chosen = best(candidates, metric)
        if chosen is not None:
            baselines[context] = chosen
    comparisons: dict[str, Comparison] = {}
    for configuration in configurations:
        baseline = baselines.get(baseline_context(configuration.config))
        if baseline is None or configuration.n == 0:
            continue
        is_baseline = configuration is baseline
        delta = configuration.stats(metric).mean - baseline.stats(metric).mean
        test = (
            None
            if is_baseline
            else welch_test(configuration.values(metric), baseline.values(metric))
        )
        comparisons[configuration.key] = Comparison(baseline, delta, test, is_baseline)
    return comparisons

"""Fig. 4 of the paper: validation accuracy against the annealing scale b, one panel per ratio.

Laplace is blue, Logistic red, the SGD baseline (its best weight decay) a black line; the
points are the mean over trials of the report metric, error bars one sample standard
deviation. Where several configurations share a b (an alpha or weight-decay grid), the best
of them is drawn, as the tables report the best of a grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rsmooth.errors import RsmoothError
from rsmooth.plot.style import (
    ANNEAL_COLORS,
    BASELINE,
    panel_letter,
    pyplot,
    ratio_name,
    save,
)
from rsmooth.report.aggregate import Configuration, best, is_baseline
from rsmooth.report.labels import fmt

SCHEME_STYLES = {"global+local": ("-", "o"), "global": ("--", "s")}
METRIC_NAMES = {
    "max": "max validation accuracy (%)",
    "mean": "mean validation accuracy, last 10% (%)",
}


def _smoothing(c: Configuration) -> bool:
    return c.n > 0 and c.method.smoothing_only and c.config.get("anneal") in ANNEAL_COLORS


def _std(configuration: Configuration, metric: str) -> float:
    std = configuration.stats(metric).std
    return 0.0 if math.isnan(std) else std


def plot_sweep(
    configurations: list[Configuration], out_dir: Path, metric: str = "max"
) -> list[Path]:
    """One figure per (model, data, epochs): ``sweep-<model>-<data>.png/.pdf``."""
    smoothing = [c for c in configurations if _smoothing(c)]
    if not smoothing:
        raise RsmoothError(
            "no completed residual-smoothing runs (anneal laplace or logistic) to plot against b"
        )
    figures: dict[tuple, list[Configuration]] = {}
    for c in smoothing:
        key = (str(c.config["model"]), str(c.config["data"]), c.config.get("epochs"))
        figures.setdefault(key, []).append(c)
    several_epochs = len({key[:2] for key in figures}) < len(figures)
    paths: list[Path] = []
    for (model, data, epochs), configs in sorted(figures.items(), key=lambda i: repr(i[0])):
        baselines = [
            c
            for c in configurations
            if c.n > 0
            and is_baseline(c)
            and (c.config.get("model"), c.config.get("data"), c.config.get("epochs"))
            == (model, data, epochs)
        ]
        stem = f"sweep-{model}-{data}" + (f"-{epochs}ep" if several_epochs else "")
        paths += _plot_figure(model, data, configs, baselines, metric, out_dir, stem)
    return paths


def _plot_figure(
    model: str,
    data: str,
    configs: list[Configuration],
    baselines: list[Configuration],
    metric: str,
    out_dir: Path,
    stem: str,
) -> list[Path]:
    plt = pyplot()
    subsets = sorted({_subset(c) for c in configs}, reverse=True)
    # Shared axes: the ratios compare at a glance, and a panel with a single b gets a sane range.
    fig, axes = plt.subplots(
        1,
        len(subsets),
        squeeze=False,
        sharey=True,
        sharex=True,
        figsize=(max(4.2 * len(subsets) + 0.4, 6.5), 4.2),
    )
    for i, subset in enumerate(subsets):
        ax = axes[0][i]
        here = [c for c in configs if math.isclose(_subset(c), subset)]
        _draw_series(ax, here, metric)
        _draw_baseline(ax, [c for c in baselines if math.isclose(_subset(c), subset)], metric)
        name = "full training set" if subset >= 1.0 else f"training ratio {ratio_name(subset)}"
        ax.set_title(f"{panel_letter(i)} {name}")
        ax.set_xlabel("scale b of the annealing distribution")
    axes[0][0].set_ylabel(METRIC_NAMES[metric])
    every_b = {float(c.config["b"]) for c in configs}
    if len(every_b) == 1:  # matplotlib would zoom to ±0.05 b around a single point
        (only,) = every_b
        axes[0][0].set_xlim(max(0.0, only - 0.5), only + 0.5)
    fig.suptitle(
        f"{configs[0].method.model_title}, {configs[0].method.data_title}: validation "
        "accuracy vs b\n(paper Fig. 4; points: mean over trials, error bars: ±1 std)"
    )
    _legend(fig, axes[0], columns=5 if len(subsets) > 1 else 3)
    return save(fig, out_dir, stem)


def _subset(c: Configuration) -> float:
    return float(c.config.get("subset") or 1.0)


def _draw_series(ax: Any, here: list[Configuration], metric: str) -> None:
    """One line per (scheme, anneal): the best configuration at each b."""
    series = sorted(
        {(c.config.get("scheme"), c.config["anneal"]) for c in here},
        key=lambda s: (s[1], s[0] != "global+local", str(s[0])),
    )
    for scheme, anneal in series:
        by_b: dict[float, list[Configuration]] = {}
        for c in here:
            if (c.config.get("scheme"), c.config["anneal"]) == (scheme, anneal):
                by_b.setdefault(float(c.config["b"]), []).append(c)
        points = [(b, chosen) for b in sorted(by_b) if (chosen := best(by_b[b], metric))]
        linestyle, marker = SCHEME_STYLES.get(str(scheme), (":", "^"))
        ax.errorbar(
            [b for b, _ in points],
            [c.stats(metric).mean for _, c in points],
            yerr=[_std(c, metric) for _, c in points],
            color=ANNEAL_COLORS[anneal],
            linestyle=linestyle,
            marker=marker,
            markersize=4,
            capsize=3,
            label=f"{anneal} ({scheme})",
        )


def _draw_baseline(ax: Any, baselines: list[Configuration], metric: str) -> None:
    """The best SGD configuration: a black line, a grey ±1 std band."""
    baseline = best(baselines, metric)
    if baseline is None:
        return
    level, spread = baseline.stats(metric).mean, _std(baseline, metric)
    ax.axhline(
        level,
        color=BASELINE,
        linewidth=1.2,
        label=f"SGD (wd={fmt(baseline.config.get('weight_decay'))})",
    )
    if spread:
        ax.axhspan(level - spread, level + spread, color=BASELINE, alpha=0.08, linewidth=0)


def _legend(fig: Any, axes: Any, columns: int) -> None:
    """One legend for all panels, below them: inside, it would hide points of some panel."""
    handles, labels = {}, []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    labels.sort(
        key=lambda label: (
            not label.startswith("SGD"),
            label.split(" (")[0],
            "global+local" not in label,
            label,
        )
    )
    ncol = min(len(labels), columns)
    legend_rows = -(-len(labels) // ncol)
    fig.tight_layout(rect=(0, (0.1 + 0.22 * legend_rows) / fig.get_figheight(), 1, 1))
    fig.legend(
        [handles[label] for label in labels], labels, loc="lower center", ncol=ncol, frameon=False
    )

"""Figs. 5-6 of the paper: learning curves, one row per data set, one column per method.

Each panel shows one configuration (the best of its grid by the report metric, as in the
tables): validation accuracy (red, left axis), training loss (blue) and test loss (green, the
unsmoothed loss on the validation split; right axis) against the epoch; lines are the mean
over the completed trials, bands span their minimum to maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from rsmooth.errors import RsmoothError
from rsmooth.plot.style import (
    BAND_ALPHA,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_LOSS,
    data_title,
    model_title,
    panel_letter,
    pyplot,
    ratio_name,
    save,
)
from rsmooth.report.aggregate import Configuration, best
from rsmooth.report.labels import fmt, is_plain, method_kind, short_kind

DATA_ORDER = ("cifar10", "cifar100", "svhn", "fashion-mnist")  # the paper's row order


@dataclass(frozen=True)
class Curve:
    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]


def curve(configuration: Configuration, key: str) -> Curve | None:
    """Mean, min and max over the completed trials of metrics key ``key`` at each epoch."""
    runs = configuration.completed
    if not runs:
        return None
    length = min(len(r.metrics) for r in runs)
    epochs: list[int] = []
    mean: list[float] = []
    low: list[float] = []
    high: list[float] = []
    for i in range(length):
        values = [r.metrics[i].get(key) for r in runs]
        numbers = [float(v) for v in values if isinstance(v, (int, float))]
        if len(numbers) < len(values):
            continue  # an epoch without this split (val_start) or an older log: a gap
        epochs.append(int(runs[0].metrics[i]["epoch"]))
        mean.append(sum(numbers) / len(numbers))
        low.append(min(numbers))
        high.append(max(numbers))
    return Curve(epochs, mean, low, high) if epochs else None


def _kind_order(kind: str, config: dict) -> tuple:
    """The paper's columns first (SGD, Laplace, Logistic), then Table 3's other methods."""
    if is_plain(config):
        ranks = {"sgd": 0, "adam": 3, "adagrad": 4}
        return (ranks.get(str(config.get("optimizer")), 6), kind)
    if config.get("anneal") in ("laplace", "logistic"):
        return (1 if config["anneal"] == "laplace" else 2, kind)
    if config.get("label_smoothing"):
        return (5, kind)
    return (6, kind)


def _row_key(config: dict) -> tuple[str, float]:
    return (str(config.get("data")), float(config.get("subset") or 1.0))


def _row_name(row: tuple[str, float]) -> str:
    data, subset = row
    name = data_title(data)
    return name if subset >= 1.0 else f"{name} ({ratio_name(subset)})"


def _row_sort(row: tuple[str, float]) -> tuple:
    data, subset = row
    rank = DATA_ORDER.index(data) if data in DATA_ORDER else len(DATA_ORDER)
    return (rank, data, -subset)


def _grid_values(config: dict) -> str:
    shown = [("b", "b"), ("alpha", "α"), ("weight_decay", "wd")]
    if config.get("optimizer") != "sgd":
        shown.append(("lr", "lr"))  # the adaptive optimizers' lr differs from SGD's 0.1
    return " ".join(f"{name}={fmt(config[k])}" for k, name in shown if config.get(k) is not None)


def plot_curves(
    configurations: list[Configuration], out_dir: Path, metric: str = "max"
) -> list[Path]:
    """One figure per model (``curves-<model>.png/.pdf``); returns the files written."""
    usable = [c for c in configurations if c.n > 0]
    if not usable:
        raise RsmoothError("no completed runs to draw learning curves from")
    paths: list[Path] = []
    for model in sorted({str(c.config.get("model")) for c in usable}):
        paths += _plot_model(
            model, [c for c in usable if c.config.get("model") == model], out_dir, metric
        )
    return paths


def _plot_model(model: str, configs: list[Configuration], out_dir: Path, metric: str) -> list[Path]:
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    rows = sorted({_row_key(c.config) for c in configs}, key=_row_sort)
    kind_of = {c.key: method_kind(c.config) for c in configs}
    kinds = sorted(
        {kind_of[c.key]: c.config for c in configs}.items(), key=lambda item: _kind_order(*item)
    )
    columns = [kind for kind, _ in kinds]
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        squeeze=False,
        figsize=(max(4.2 * len(columns) + 0.6, 7.0), 3.0 * len(rows) + 1.2),
    )
    for r, row in enumerate(rows):
        twins, lefts = [], []
        for k, kind in enumerate(columns):
            ax = axes[r][k]
            chosen = best(
                [c for c in configs if _row_key(c.config) == row and kind_of[c.key] == kind], metric
            )
            title = f"{_row_name(row)}: {panel_letter(k)} {short_kind(kind)}"
            if chosen is None:
                ax.set_title(title)
                ax.text(
                    0.5,
                    0.5,
                    "no completed runs",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="gray",
                )
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            ax.set_title(f"{title}\n{_grid_values(chosen.config)}, n={chosen.n}", fontsize=9)
            twin = ax.twinx()
            twins.append(twin)
            lefts.append(ax)
            _draw(ax, curve(chosen, "val_acc"), VAL_ACC)
            _draw(twin, curve(chosen, "train_loss"), TRAIN_LOSS)
            _draw(twin, curve(chosen, "val_loss"), VAL_LOSS)
            twin.grid(False)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if k == 0:
                ax.set_ylabel("validation accuracy (%)", color=VAL_ACC)
            if k == len(columns) - 1:
                twin.set_ylabel("loss", color="black")
            ax.tick_params(axis="y", colors=VAL_ACC)
        _share_limits(lefts, floor=None)
        _share_limits(twins, floor=0.0)
    handles = [
        plt.Line2D([], [], color=VAL_ACC, label="validation accuracy (left axis)"),
        plt.Line2D([], [], color=TRAIN_LOSS, label="training loss (right)"),
        plt.Line2D([], [], color=VAL_LOSS, label="test loss (right)"),
    ]
    fig.suptitle(
        f"Learning curves, {model_title(model)}\n(paper Figs. 5-6; mean "
        "over trials, band: min to max; test loss: unsmoothed, on the validation split)"
    )
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    return save(fig, out_dir, f"curves-{model}")


def _draw(ax: Axes, data: Curve | None, color: str) -> None:
    if data is None:
        return
    if len(data.epochs) == 1:  # one evaluated epoch (val_start): a line would draw nothing
        x, mean, low, high = data.epochs[0], data.mean[0], data.low[0], data.high[0]
        yerr = [[mean - low], [high - mean]]
        ax.errorbar([x], [mean], yerr=yerr, color=color, marker="o", markersize=4, capsize=3)
        return
    ax.plot(data.epochs, data.mean, color=color, linewidth=1.4)
    ax.fill_between(data.epochs, data.low, data.high, color=color, alpha=BAND_ALPHA, linewidth=0)


def _share_limits(axes: list, floor: float | None) -> None:
    """One scale across a row, so the methods of one data set compare at a glance."""
    if not axes:
        return
    low = min(a.get_ylim()[0] for a in axes)
    high = max(a.get_ylim()[1] for a in axes)
    for ax in axes:
        ax.set_ylim(low if floor is None else min(low, floor), high)

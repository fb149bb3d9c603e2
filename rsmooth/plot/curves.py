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
    panel_letter,
    pyplot,
    ratio_name,
    save,
)
from rsmooth.report.aggregate import CONFIRM, Configuration, best
from rsmooth.report.labels import fmt, short_kind

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


def _kind_order(configuration: Configuration) -> tuple:
    """The paper's columns first (SGD, Laplace, Logistic), then Table 3's other methods."""
    kind, config = configuration.kind, configuration.config
    if configuration.method.plain:
        ranks = {"sgd": 0, "adam": 3, "adagrad": 4}
        return (ranks.get(configuration.method.optimizer, 6), kind)
    if config.get("anneal") in ("laplace", "logistic"):
        return (1 if config["anneal"] == "laplace" else 2, kind)
    if config.get("label_smoothing"):
        return (5, kind)
    return (6, kind)


def _row_key(config: dict) -> tuple[str, float]:
    return (str(config.get("data")), float(config.get("subset") or 1.0))


def _row_name(row: tuple[str, float], titles: dict[str, str]) -> str:
    data, subset = row
    name = titles.get(data, data)
    return name if subset >= 1.0 else f"{name} ({ratio_name(subset)})"


def _row_sort(row: tuple[str, float]) -> tuple:
    data, subset = row
    rank = DATA_ORDER.index(data) if data in DATA_ORDER else len(DATA_ORDER)
    return (rank, data, -subset)


def _grid_values(chosen: Configuration) -> str:
    """The chosen configuration's values that its column title (the kind) leaves out: those
    its label spells (``b=0.3 alpha=1``, ``rho=0.2``, ``flood=0.01``, ``γ=0.1 ε=0.5``), then the
    weight decay, and the lr of an optimizer other than SGD."""
    config = chosen.config
    spelled = [word for word in chosen.label.split() if "=" in word]
    shown = [("weight_decay", "wd")]
    if config.get("optimizer") != "sgd":
        shown.append(("lr", "lr"))  # the adaptive optimizers' lr differs from SGD's 0.1
    setting = [f"{name}={fmt(config[k])}" for k, name in shown if config.get(k) is not None]
    return " ".join(spelled + setting)


def plot_curves(
    configurations: list[Configuration], out_dir: Path, metric: str = "max", select: str = "val"
) -> list[Path]:
    """One figure per model (``curves-<model>.png/.pdf``); returns the files written. Each
    panel draws the best of its grid by ``metric`` on the ``select`` split, or, where a sweep
    confirmed winners on fresh seeds, the confirmation runs."""
    usable = [c for c in configurations if c.n > 0]
    if not usable:
        raise RsmoothError("no completed runs to draw learning curves from")
    models: dict[str, list[Configuration]] = {}
    for c in usable:
        models.setdefault(str(c.config.get("model")), []).append(c)
    paths: list[Path] = []
    for model in sorted(models):
        paths += _plot_model(model, models[model], out_dir, metric, select)
    return paths


def _chosen(here: list[Configuration], metric: str, select: str) -> Configuration | None:
    """The configuration a panel draws: the confirmed winner where there is one (its runs
    were not used to choose it), else the best of the grid on the ``select`` split."""
    confirmed = [c for c in here if c.stage == CONFIRM]
    return best(confirmed or here, metric, select)


def _plot_model(
    model: str, configs: list[Configuration], out_dir: Path, metric: str, select: str
) -> list[Path]:
    plt = pyplot()
    rows = sorted({_row_key(c.config) for c in configs}, key=_row_sort)
    titles = {str(c.config.get("data")): c.method.data_title for c in configs}
    one_of_each = {c.kind: c for c in configs}  # the order of a column is its kind's
    columns = [c.kind for c in sorted(one_of_each.values(), key=_kind_order)]
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        squeeze=False,
        figsize=(max(4.2 * len(columns) + 0.6, 7.0), 3.0 * len(rows) + 1.2),
    )
    for r, row in enumerate(rows):
        drawn = []
        for k, kind in enumerate(columns):
            here = [c for c in configs if _row_key(c.config) == row and c.kind == kind]
            title = f"{_row_name(row, titles)}: {panel_letter(k)} {short_kind(kind)}"
            chosen = _chosen(here, metric, select)
            twin = _panel(axes[r][k], chosen, title, k == 0, k == len(columns) - 1)
            if twin is not None:
                drawn.append((axes[r][k], twin))
        _share_limits([left for left, _ in drawn], floor=None)
        _share_limits([twin for _, twin in drawn], floor=0.0)
    handles = [
        plt.Line2D([], [], color=VAL_ACC, label="validation accuracy (left axis)"),
        plt.Line2D([], [], color=VAL_ACC, linestyle=":", label="held-out accuracy (left)"),
        plt.Line2D([], [], color=TRAIN_LOSS, label="training loss (right)"),
        plt.Line2D([], [], color=VAL_LOSS, label="test loss (right)"),
    ]
    fig.suptitle(
        f"Learning curves, {configs[0].method.model_title}\n(paper Figs. 5-6; mean "
        "over trials, band: min to max; test loss: unsmoothed, on the validation split)"
    )
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)
    return save(fig, out_dir, f"curves-{model}")


def _panel(
    ax: Axes, chosen: Configuration | None, title: str, first: bool, last: bool
) -> Axes | None:
    """One method's curves on one data set; returns the loss axis (None: nothing to draw)."""
    from matplotlib.ticker import MaxNLocator

    if chosen is None:
        ax.set_title(title)
        ax.text(
            0.5, 0.5, "no completed runs", ha="center", va="center", transform=ax.transAxes,
            color="gray",
        )  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        return None
    ax.set_title(f"{title}\n{_grid_values(chosen)}, n={chosen.n}", fontsize=9)
    twin = ax.twinx()
    _draw(ax, curve(chosen, "val_acc"), VAL_ACC)
    _draw(ax, curve(chosen, "holdout_acc"), VAL_ACC, linestyle=":")
    _draw(twin, curve(chosen, "train_loss"), TRAIN_LOSS)
    _draw(twin, curve(chosen, "val_loss"), VAL_LOSS)
    twin.grid(False)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if first:
        ax.set_ylabel("validation accuracy (%)", color=VAL_ACC)
    if last:
        twin.set_ylabel("loss", color="black")
    ax.tick_params(axis="y", colors=VAL_ACC)
    return twin


def _draw(ax: Axes, data: Curve | None, color: str, linestyle: str = "-") -> None:
    if data is None:
        return
    if len(data.epochs) == 1:  # one evaluated epoch (val_start): a line would draw nothing
        x, mean, low, high = data.epochs[0], data.mean[0], data.low[0], data.high[0]
        yerr = [[mean - low], [high - mean]]
        ax.errorbar([x], [mean], yerr=yerr, color=color, marker="o", markersize=4, capsize=3)
        return
    ax.plot(data.epochs, data.mean, color=color, linewidth=1.4, linestyle=linestyle)
    ax.fill_between(data.epochs, data.low, data.high, color=color, alpha=BAND_ALPHA, linewidth=0)


def _share_limits(axes: list, floor: float | None) -> None:
    """One scale across a row, so the methods of one data set compare at a glance."""
    if not axes:
        return
    low = min(a.get_ylim()[0] for a in axes)
    high = max(a.get_ylim()[1] for a in axes)
    for ax in axes:
        ax.set_ylim(low if floor is None else min(low, floor), high)

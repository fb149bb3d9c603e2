"""Figs. 1-2 of the paper: the diffusivity sigmoid and the peak-scaled annealing of s_t."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rsmooth.plot.style import ANNEAL_COLORS, pyplot, save

SCALES = (0.25, 0.5, 0.75, 1.0)  # s in Fig. 1(a), alpha = 1
STEEPNESS = (0.0, 0.5, 1.0, 2.0, 4.0)  # alpha in Fig. 1(b), s = 1
WIDTHS = (0.1, 0.3, 0.5, 0.7, 0.9)  # b in Fig. 2 (the grid of Tables 1-2)
MU = 0.75  # the peak, a fraction of training (docs/methods.md §1.5)


def sigmoid(x: float, s: float, alpha: float) -> float:
    """S(x; s, alpha) = s / (1 + exp(-alpha x)): the diffusivity of eq. 12 at residual x."""
    z = -alpha * x
    if z > 700:  # exp would overflow; the value is 0 to double precision
        return 0.0
    return s / (1.0 + math.exp(z))


def _grid(low: float, high: float, points: int) -> list[float]:
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def plot_sigmoid(
    out_dir: Path, scales: Sequence[float] = SCALES, steepness: Sequence[float] = STEEPNESS
) -> list[Path]:
    """Fig. 1: (a) S for several s with alpha 1; (b) S for several alpha with s 1."""
    plt = pyplot()
    xs = _grid(-6.0, 6.0, 601)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    colors = plt.get_cmap("viridis")
    for i, s in enumerate(scales):
        left.plot(
            xs, [sigmoid(x, s, 1.0) for x in xs], color=colors(i / len(scales)), label=f"s = {s:g}"
        )
    for i, alpha in enumerate(steepness):
        right.plot(
            xs,
            [sigmoid(x, 1.0, alpha) for x in xs],
            color=colors(i / len(steepness)),
            label=f"α = {alpha:g}",
        )
    left.set_title("(a) varying scale s (α = 1)")
    right.set_title("(b) varying steepness α (s = 1)")
    for ax in (left, right):
        ax.set_xlabel("normalized residual x")
        ax.legend(loc="upper left")
        ax.set_xlim(xs[0], xs[-1])
    left.set_ylabel("diffusivity S(x; s, α)")
    fig.suptitle("Sigmoid diffusivity S(x; s, α) = s / (1 + exp(−α x))  (paper Fig. 1)")
    fig.tight_layout()
    return save(fig, out_dir, "schedule-sigmoid")


def plot_anneal(out_dir: Path, widths: Sequence[float] = WIDTHS, mu: float = MU) -> list[Path]:
    """Fig. 2: the global scale s(u) over training progress u, (a) logistic, (b) laplace."""
    from rsmooth.methods.smoothing import anneal

    plt = pyplot()
    us = _grid(0.0, 1.0, 501)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    shades = {"logistic": plt.get_cmap("Reds"), "laplace": plt.get_cmap("Blues")}
    for ax, dist, letter in zip(axes, ("logistic", "laplace"), "ab", strict=True):
        for i, b in enumerate(widths):
            shade = shades[dist](0.35 + 0.65 * (i + 1) / len(widths))
            ax.plot(us, [anneal(u, dist, mu, b) for u in us], color=shade, label=f"b = {b:g}")
        ax.axvline(mu, color="gray", linestyle=":", linewidth=1)
        ax.set_title(f"({letter}) {dist}", color=ANNEAL_COLORS[dist])
        ax.set_xlabel("training progress u = t / T")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.05)
        # Below the axes: inside, every corner is crossed by one of the curves.
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncol=len(widths),
            frameon=False,
            handlelength=1.5,
            columnspacing=1.0,
        )
    axes[0].set_ylabel("global scale s(u)")
    formula = "laplace exp(−|u−μ|/b),  logistic sech²((u−μ)/(2b))"
    fig.suptitle(f"Annealing of s_t, peak 1 at μ = {mu:g}: {formula}  (paper Fig. 2)")
    fig.tight_layout()
    return save(fig, out_dir, "schedule-anneal")


def plot_schedule(out_dir: Path) -> list[Path]:
    """Both schedule figures (Figs. 1 and 2), PNG and PDF."""
    return plot_sigmoid(out_dir) + plot_anneal(out_dir)

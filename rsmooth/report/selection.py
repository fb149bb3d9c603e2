"""How sure a choice is: the winner's margin over the runner-up on the selection split next to
the seed-to-seed noise of that score, and the smallest difference a confirmation could detect.

A grid may run several seeds per configuration; its selection score is the mean over them.
The noise is the pooled within-configuration standard deviation of the score over the
configurations the choice was made among (rsmooth.report.stats.pooled_sd): with one seed per
configuration it cannot be estimated from the grid. The margin is *within the noise* when it is
smaller than twice its own standard error, ``sd · sqrt(1/n_winner + 1/n_runner_up)``: a rerun
of the grid on other seeds could then choose another configuration. A winner that holds the
lowest or highest value searched on an axis of three or more values sits at the *edge* of the
grid: a value beyond it was never tried, so the side may be under-tuned there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rsmooth.config import field_info
from rsmooth.report.aggregate import BASELINE_CONTEXT, Configuration, paired_values, score
from rsmooth.report.stats import (
    PAIRED,
    detectable_difference,
    detectable_paired_difference,
    pooled_sd,
)

NOISE_WIDTH = 2.0  # standard errors of the margin that "within the noise" spans (about 95%)
ALPHA, POWER = 0.05, 0.8  # of the smallest detectable difference


@dataclass(frozen=True)
class Edge:
    """An axis of the grid on which the winner holds the lowest or highest value searched."""

    field: str
    value: float
    highest: bool

    @property
    def end(self) -> str:
        return "highest" if self.highest else "lowest"


@dataclass(frozen=True)
class Certainty:
    """The choice of ``winner`` among the configurations of one side."""

    winner: Configuration
    runner_up: Configuration
    margin: float  # winner's score minus the runner-up's, points (negative: not the best)
    sd: float  # seed-to-seed standard deviation of the score; nan: not estimable
    df: int  # its degrees of freedom
    pooled: int  # configurations with 2 or more seeds that it pools
    edges: tuple[Edge, ...] = ()  # axes on which the winner is at the end of the grid

    @property
    def standard_error(self) -> float:
        """Of the margin: sd · sqrt(1/n₁ + 1/n₂)."""
        return self.sd * math.sqrt(1 / self.winner.n + 1 / self.runner_up.n)

    @property
    def estimable(self) -> bool:
        return not math.isnan(self.sd)

    @property
    def within_noise(self) -> bool:
        return self.estimable and self.margin < NOISE_WIDTH * self.standard_error


def certainty(
    winner: Configuration, pool: Sequence[Configuration], metric: str, split: str
) -> Certainty | None:
    """How sure the choice of ``winner`` (a member of ``pool``, or its grid twin: the same
    method identity) among ``pool`` is, on ``metric`` of ``split``; None where there was no
    choice (fewer than 2 scored configurations)."""
    scored = [c for c in pool if not math.isnan(score(c, metric, split))]
    chosen = next((c for c in scored if c.method.key == winner.method.key), None)
    others = [c for c in scored if c is not chosen]
    if chosen is None or not others:
        return None
    runner_up = max(others, key=lambda c: score(c, metric, split))  # ties: the first listed
    sd, df = pooled_sd([c.values(metric, split) for c in scored])
    margin = score(chosen, metric, split) - score(runner_up, metric, split)
    pooled = sum(1 for c in scored if c.n >= 2)
    # Edges over every configuration searched, scored or not: a value beyond the winner that
    # diverged or has not finished was tried, so the winner is not at the grid's edge.
    return Certainty(chosen, runner_up, margin, sd, df, pooled, grid_edges(chosen, pool))


EDGE_AXIS_VALUES = 3  # an axis of two values has no inside: every choice would be "at the edge"
# Fields that can vary among a side's runs without being searched: the data and model settings
# (a pool of runs from recipes with another val_start), and the baseline context itself.
NOT_SEARCHED_GROUPS = ("data", "model", "engine", "plugins")


def grid_edges(chosen: Configuration, pool: Sequence[Configuration]) -> tuple[Edge, ...]:
    """The searched numeric axes of ``pool`` (fields with 3 or more values) on which
    ``chosen`` holds the lowest or highest value: a better value may lie beyond it, untried."""
    edges = []
    for name, value in chosen.method.identity.items():
        if not _searched(name) or not _number(value):
            continue
        axis = [c.method.identity.get(name) for c in pool]
        if not all(_number(v) for v in axis):
            continue  # a field some runs lack (an older block): not an axis of one grid
        values = {float(v) for v in axis if v is not None}  # None: for mypy, ruled out above
        if len(values) >= EDGE_AXIS_VALUES and float(value) in (min(values), max(values)):
            edges.append(Edge(name, float(value), float(value) == max(values)))
    return tuple(edges)


def _searched(name: str) -> bool:
    if name in BASELINE_CONTEXT:
        return False
    try:
        return field_info(name).get("group") not in NOT_SEARCHED_GROUPS
    except KeyError:  # a plugin's field, its plugin not loaded here: a part's own setting
        return True


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Detectable:
    """The smallest differences a confirmation could detect, one per comparison."""

    differences: list[float]  # points; nan where undefined
    sd: float  # seed-to-seed SD pooled over the runs (paired: of the per-seed differences)
    pooled: int  # configurations it pools (paired: comparisons)
    sizes: list[tuple[int, int]]  # trials per side of each comparison
    paired: bool = False  # every comparison paired over its seeds


def detectable(
    pairs: Sequence[tuple[Configuration, Configuration]], metric: str, test: str = PAIRED
) -> Detectable | None:
    """For confirmation comparisons (method, its baseline): the smallest true difference of
    ``metric`` each detects (two-sided t-test, ALPHA, POWER). Where every comparison is
    paired over shared seeds (``test`` paired), the paired test's, from the SD of the per-seed
    differences pooled over the comparisons; otherwise the two-sample test's, from the runs'
    pooled SD."""
    if not pairs:
        return None
    sizes = [(a.n, b.n) for a, b in pairs]
    matched = [paired_values(a, b, metric) if test == PAIRED else None for a, b in pairs]
    if all(m is not None for m in matched):
        gaps = [
            [x - y for x, y in zip(*m, strict=True) if math.isfinite(x - y)]
            for m in matched
            if m is not None
        ]
        sd, _ = pooled_sd(gaps)
        differences = [detectable_paired_difference(sd, len(g), ALPHA, POWER) for g in gaps]
        return Detectable(differences, sd, sum(len(g) >= 2 for g in gaps), sizes, paired=True)
    members = {id(c): c for pair in pairs for c in pair}.values()
    sd, _ = pooled_sd([c.values(metric) for c in members])
    differences = [detectable_difference(sd, n1, n2, ALPHA, POWER) for n1, n2 in sizes]
    pooled = sum(1 for c in members if c.n >= 2)
    return Detectable(differences, sd, pooled, sizes)

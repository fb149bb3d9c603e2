"""The report's sections and how its numbers are written: one ``Section`` per table, laid out
in Markdown or LaTeX by rsmooth.report.render; numbers to two decimals, as the paper prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rsmooth.report.cost import Cost
from rsmooth.report.stats import Difference, Summary


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # paragraphs after the notes


def accuracy(summary: Summary, interval: str = "ci95") -> str:
    """mean ± the chosen spread, in % (two decimals, as the paper prints)."""
    if summary.n == 0 or math.isnan(summary.mean):
        return "—"
    spread = summary.spread(interval)
    return f"{summary.mean:.2f}" if math.isnan(spread) else f"{summary.mean:.2f} ± {spread:.2f}"


def signed(value: float | None, decimals: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:+.{decimals}f}"


def p_value(p: float) -> str:
    if math.isnan(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_equals(p: float) -> str:
    """``p`` in a sentence: "= 0.031", "< 0.001"."""
    text = p_value(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def interval_text(difference: Difference) -> str:
    if not difference.defined:
        return f"{signed(difference.delta)} [—]"
    return f"{signed(difference.delta)} [{signed(difference.low)}, {signed(difference.high)}]"


def points(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


COST_HEADER = ["grad evals/step", "images", "s/epoch", "grad evals"]


def cost_cells(cost: Cost) -> list[str]:
    """The cost columns of a row (``report --cost``); "?" where the records do not say."""

    def count(value: int | None) -> str:
        return "?" if value is None else f"{value:,}"

    seconds = "?" if math.isnan(cost.epoch_seconds) else f"{cost.epoch_seconds:.2f}"
    return [count(cost.evaluations_per_step), count(cost.images), seconds, count(cost.evaluations)]

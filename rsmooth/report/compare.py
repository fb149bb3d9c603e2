"""Comparisons: per stage and context, each method's selected configuration against its
baseline, and against an SGD baseline of equal compute where the method costs more.

The baseline of a row (docs/report.md, "The verdict"):

- plain SGD at the row's own context and epochs (the table's baseline), for SGD-based methods
  and for plain non-SGD optimizers;
- the plain configuration of the row's own optimizer when the row regularizes another
  optimizer (AdamW + AGR against AdamW) and the table holds one.

Equal compute: a two-pass method (SAM, F-GR, B-GR) takes twice the gradient evaluations of
its baseline. Where an SGD baseline of the same context trained for more epochs (a recipe
variant ``sgd-2x``) took exactly the row's total gradient evaluations, the row is also
compared with it. Holm's adjustment runs over every comparison of one table.

Contrasts: a recipe may declare head-to-head comparisons of its variants before any run
(``confirm.contrasts``, e.g. F-GR against B-GR; the sweep records them in selection.json). In a
confirmation table that holds both variants' winners, each is tested like a baseline
comparison and joins the table's Holm family; a pair the table already compares (a variant
and its own baseline) is not counted twice, and a pair no table can test is listed with why.

The test: in a confirmation table, paired over the seeds where both sides completed the same
ones (rsmooth.report.stats); in the grid, whose winners were chosen on those very seeds,
Welch's, as the supplement it is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rsmooth.report.aggregate import (
    BASELINE_CONTEXT,
    CONFIRM,
    GRID,
    Configuration,
    baseline_context,
    best,
    is_baseline,
    paired_values,
    sort_key,
)
from rsmooth.report.selection import Certainty, Detectable, certainty, detectable
from rsmooth.report.stats import PAIRED, WELCH, Difference, holm, paired, welch

Context = tuple[str, ...]


@dataclass(frozen=True)
class Versus:
    """A row's trials against a baseline's: the difference, its interval and p (paired over
    the seeds, or Welch's), Holm's p."""

    baseline: Configuration
    difference: Difference
    holm_p: float = math.nan


@dataclass(frozen=True)
class Row:
    """One method of a comparison table: its selected configuration against its baseline."""

    configuration: Configuration
    searched: int  # configurations its choice was made among (the grid's, for confirmed ones)
    versus: Versus | None  # None for the table's SGD baseline itself
    equal: Versus | None = None  # against the SGD baseline of equal compute, where one exists
    compute_ratio: float | None = None  # its gradient evaluations / its baseline's, if not 1
    certainty: Certainty | None = None  # how sure the choice of this configuration is

    @property
    def is_baseline(self) -> bool:
        return self.versus is None

    @property
    def difference(self) -> Difference | None:
        return self.versus.difference if self.versus else None

    @property
    def holm_p(self) -> float:
        return self.versus.holm_p if self.versus else math.nan


@dataclass(frozen=True)
class Contrast:
    """A declared head-to-head comparison: ``configuration``'s trials against another
    variant's winner (``versus.baseline``)."""

    configuration: Configuration
    versus: Versus


@dataclass(frozen=True)
class Comparison:
    """The methods of one stage and context, each the best of its grid (or its confirmed
    winner), against their baselines chosen the same way."""

    stage: str
    context: dict[str, Any]
    baseline: Configuration  # plain SGD
    rows: list[Row]  # the baseline first
    detectable: Detectable | None = None  # confirmation tables: the smallest detectable Δ
    contrasts: list[Contrast] = dataclasses.field(default_factory=list)  # confirmation only
    members: list[Configuration] = dataclasses.field(default_factory=list)  # n = 0 ones too


def compare(
    configurations: list[Configuration],
    metric: str,
    select: str,
    contrasts: Sequence[tuple[str, str]] = (),
    test: str = PAIRED,
) -> list[Comparison]:
    """Per stage and context: select the best configuration of each method kind on ``select``
    by ``metric``, and compare its test-split ``metric`` with its baseline's (confirmation
    tables: ``test``, paired over shared seeds else Welch, or Welch throughout; the grid:
    Welch), and with an SGD baseline of equal compute where it costs more; in confirmation
    tables, also the declared ``contrasts`` (variant against variant). Holm-adjusted per
    table."""
    grid = [c for c in configurations if c.stage == GRID]
    tables: list[Comparison] = []
    for stage in (CONFIRM, GRID):
        contexts: dict[Context, list[Configuration]] = {}
        for c in configurations:
            if c.stage == stage:
                contexts.setdefault(baseline_context(c.config), []).append(c)
        chosen = {ctx: _chosen(members, stage, metric, select) for ctx, members in contexts.items()}
        sgd = {ctx: b for ctx, rows in chosen.items() if (b := _sgd(rows)) is not None}
        for ctx, members in contexts.items():
            if ctx not in sgd:
                continue
            pools = {c.key: _pool(c, members, grid, stage) for c in chosen[ctx]}
            stage_test = test if stage == CONFIRM else WELCH
            rows = [
                _row(c, chosen[ctx], sgd, pools[c.key], metric, select, stage_test)
                for c in chosen[ctx]
            ]
            heads = []
            if stage == CONFIRM:
                heads = _contrasts(chosen[ctx], rows, contrasts, metric, stage_test)
            table = _table(stage, sgd[ctx], rows, metric, heads, stage_test)
            tables.append(dataclasses.replace(table, members=members))
    return tables


def _by_variant(configurations: list[Configuration]) -> dict[str, list[Configuration]]:
    found: dict[str, list[Configuration]] = {}
    for c in configurations:
        if c.variant is not None:
            found.setdefault(c.variant, []).append(c)
    return found


def _compared(rows: list[Row]) -> set[frozenset[str]]:
    """The pairs of configurations (by key) a table already tests: each row against its
    baseline and its equal-compute twin."""
    return {
        frozenset((r.configuration.key, v.baseline.key))
        for r in rows
        for v in (r.versus, r.equal)
        if v is not None
    }


def _contrasts(
    chosen: list[Configuration],
    rows: list[Row],
    declared: Sequence[tuple[str, str]],
    metric: str,
    test: str,
) -> list[Contrast]:
    """The declared pairs whose two variants each have one confirmed winner here and which the
    table does not already compare."""
    by_variant, compared = _by_variant(chosen), _compared(rows)
    found = []
    for first, second in declared:
        mine, theirs = by_variant.get(first, []), by_variant.get(second, [])
        if len(mine) != 1 or len(theirs) != 1:
            continue  # untested_contrasts says why
        a, b = mine[0], theirs[0]
        if frozenset((a.key, b.key)) not in compared:
            found.append(Contrast(a, Versus(b, difference(a, b, metric, test))))
    return found


def untested_contrasts(
    comparisons: list[Comparison], declared: Sequence[tuple[str, str]]
) -> list[tuple[tuple[str, str], str]]:
    """Each declared pair that no confirmation table tests as a contrast, with why."""
    confirm = [c for c in comparisons if c.stage == CONFIRM]
    tested = {
        (h.configuration.variant, h.versus.baseline.variant) for c in confirm for h in c.contrasts
    }
    found = []
    for pair in declared:
        if pair in tested:
            continue
        found.append((pair, _why_untested(pair, confirm)))
    return found


def _why_untested(pair: tuple[str, str], confirm: list[Comparison]) -> str:
    first, second = pair
    for table in confirm:
        by_variant = _by_variant([r.configuration for r in table.rows])
        mine, theirs = by_variant.get(first, []), by_variant.get(second, [])
        if mine and theirs:
            if len(mine) > 1 or len(theirs) > 1:
                many = first if len(mine) > 1 else second
                return f"{many} has several confirmed winners in one table: which one is ambiguous"
            return "the verdict table already compares them (a variant and its own baseline)"
    present = {c.variant for table in confirm for r in table.rows if (c := r.configuration)}
    missing = [name for name in pair if name not in present]
    if missing:
        return f"no completed confirmation run of {missing[0]} among these runs"
    return "their winners are in different verdict tables (other epochs, data or protocol)"


def difference(a: Configuration, b: Configuration, metric: str, test: str = PAIRED) -> Difference:
    """mean(a) - mean(b) of ``metric``: the paired t-test over the seeds when ``test`` is
    paired and both sides completed the same seeds, once each (every method at one seed draws
    the same images, split and initialization); Welch's test otherwise."""
    matched = paired_values(a, b, metric) if test == PAIRED else None
    if matched is None:
        return welch(a.values(metric), b.values(metric))
    return paired(*matched)


def _chosen(
    members: list[Configuration], stage: str, metric: str, select: str
) -> list[Configuration]:
    if stage == CONFIRM:
        # The sweep chose these on its own split: no second choice here (a choice on the test
        # split would undo the point of confirming).
        return [c for c in members if c.n > 0]
    kinds: dict[str, list[Configuration]] = {}
    for c in members:
        kinds.setdefault(c.kind, []).append(c)
    return [c for c in (best(g, metric, select) for g in kinds.values()) if c is not None]


def _sgd(chosen: list[Configuration]) -> Configuration | None:
    return next((c for c in chosen if is_baseline(c)), None)


def _row(
    configuration: Configuration,
    chosen: list[Configuration],
    sgd: dict[Context, Configuration],
    pool: list[Configuration],
    metric: str,
    select: str,
    test: str = PAIRED,
) -> Row:
    sure = certainty(configuration, pool, metric, select)
    table_baseline = sgd[baseline_context(configuration.config)]
    if configuration is table_baseline:
        return Row(configuration, len(pool), None, certainty=sure)
    reference = reference_of(configuration, chosen, table_baseline)
    versus = Versus(reference, difference(configuration, reference, metric, test))
    ratio = _compute_ratio(configuration, reference)
    equal = None
    if ratio is not None:
        twin = _equal_compute(configuration, sgd)
        if twin is not None:
            equal = Versus(twin, difference(configuration, twin, metric, test))
    return Row(configuration, len(pool), versus, equal, ratio, sure)


def reference_of(
    configuration: Configuration, chosen: list[Configuration], sgd: Configuration
) -> Configuration:
    """The baseline of a row: the plain configuration of its own optimizer when it regularizes
    an optimizer other than SGD and the table holds one; plain SGD otherwise."""
    method = configuration.method
    if method.optimizer != "sgd" and not method.plain:
        own = [c for c in chosen if c.method.plain and c.method.optimizer == method.optimizer]
        if own:
            return own[0]
    return sgd


def _compute_ratio(configuration: Configuration, reference: Configuration) -> float | None:
    """Its total gradient evaluations over its baseline's, where both are known and differ."""
    mine, theirs = configuration.cost.evaluations, reference.cost.evaluations
    if mine is None or theirs is None or mine == theirs or theirs == 0:
        return None
    return mine / theirs


def _equal_compute(
    configuration: Configuration, sgd: dict[Context, Configuration]
) -> Configuration | None:
    """The SGD baseline of the same context but for its epochs whose runs took exactly the
    configuration's total gradient evaluations (an ``sgd-2x`` variant for a two-pass rule)."""
    context = baseline_context(configuration.config, without=("epochs",))
    for baseline in sgd.values():
        if (
            baseline_context(baseline.config, without=("epochs",)) == context
            and baseline.cost.evaluations == configuration.cost.evaluations
        ):
            return baseline
    return None


def _table(
    stage: str,
    baseline: Configuration,
    rows: list[Row],
    metric: str,
    contrasts: list[Contrast] | None = None,
    test: str = PAIRED,
) -> Comparison:
    """The rows in order, Holm-adjusted over every comparison of the table (against the
    baselines, at equal compute, and the declared contrasts)."""
    rows = sorted(rows, key=lambda r: (not r.is_baseline, sort_key(r.configuration)))
    heads = contrasts or []
    tests = [v for r in rows for v in (r.versus, r.equal) if v is not None]
    tests += [h.versus for h in heads]
    adjusted = dict(zip(map(id, tests), holm([v.difference.p for v in tests]), strict=True))

    def adjust(versus: Versus | None) -> Versus | None:
        return None if versus is None else dataclasses.replace(versus, holm_p=adjusted[id(versus)])

    rows = [dataclasses.replace(r, versus=adjust(r.versus), equal=adjust(r.equal)) for r in rows]
    heads = [Contrast(h.configuration, adjust(h.versus) or h.versus) for h in heads]
    pairs = [(r.configuration, r.versus.baseline) for r in rows if r.versus is not None]
    found = detectable(pairs, metric, test) if stage == CONFIRM else None
    context = {name: baseline.config.get(name) for name in BASELINE_CONTEXT}
    return Comparison(stage, context, baseline, rows, found, heads)


def _pool(
    configuration: Configuration,
    members: list[Configuration],
    grid: list[Configuration],
    stage: str,
) -> list[Configuration]:
    """The configurations the selection of this row chose from: for a grid row, those of its
    kind in its context; for a confirmed row, the grid configurations of its variant (its kind
    when the layout names no variant) in its context."""
    if stage == GRID:
        return [c for c in members if c.kind == configuration.kind]
    context = baseline_context(configuration.config)
    pool = [c for c in grid if baseline_context(c.config) == context]
    if configuration.variant is not None:
        return [c for c in pool if c.variant == configuration.variant]
    return [c for c in pool if c.kind == configuration.kind]

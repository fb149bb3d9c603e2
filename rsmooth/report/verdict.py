"""The comparison tables as sections: each method against its baseline (and at equal compute),
a sentence per method, how sure each choice is, and what a confirmation could detect."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rsmooth.report.aggregate import CONFIRM, Configuration
from rsmooth.report.compare import Comparison, Row, Versus
from rsmooth.report.labels import FIELD_ORDER, fmt, short_kind
from rsmooth.report.selection import ALPHA as DETECT_ALPHA
from rsmooth.report.selection import NOISE_WIDTH, POWER, Certainty, Detectable, Edge
from rsmooth.report.stats import PAIRED, WELCH, Difference
from rsmooth.report.text import (
    COST_HEADER,
    Section,
    accuracy,
    cost_cells,
    interval_text,
    p_equals,
    p_value,
    signed,
)
from rsmooth.runfolder import DIVERGED

if TYPE_CHECKING:
    from rsmooth.report.build import Report

ALPHA = 0.05  # the significance level of the verdicts (after Holm's adjustment)
TEST_NAMES = {PAIRED: "paired", WELCH: "Welch"}


def comparison_section(report: Report, comparison: Comparison) -> Section:
    metric = report.metric
    against, equal = _other_baselines(comparison), _costlier(comparison)
    header = ["method", "configuration", "searched", "n", f"{metric} ({report.interval})"]
    if against:
        header.append("against")
    header += [f"Δ {metric} [95% CI]", "p", "p (Holm)"]
    if equal:
        header += ["equal-compute baseline", f"Δ {metric} at equal compute [95% CI]"]
        header.append("p (Holm) at equal compute")
    if report.cost:
        header += COST_HEADER
    rows, sentences = [], []
    for row in comparison.rows:
        rows.append(_cells(report, row, against, equal))
        if row.versus is not None:
            name = baseline_name(row.versus.baseline, comparison)
            sentence = verdict(row.configuration.label, row.versus.difference, row.holm_p, name)
            sentences.append(sentence + equal_compute_text(row, name))
    text = sentences + certainty_paragraph(comparison, report.metric, report.select)
    if comparison.detectable is not None:
        text.append(detectable_line(comparison.detectable))
    notes = _notes(comparison, metric)
    unfinished = unfinished_line(report, comparison)
    return Section(_title(report, comparison), header, rows, unfinished + notes, text)


def planned_trials(report: Report) -> int | None:
    """The fresh seeds per winner the sweeps planned (selection.json's ``seeds``); None where
    no record says, or records disagree."""
    counts = {len(r["seeds"]) for r in report.selections if isinstance(r.get("seeds"), list)}
    return counts.pop() if len(counts) == 1 else None


def pending(configuration: Configuration, planned: int) -> int:
    """Its planned fresh seeds not yet final: neither completed nor diverged (a diverged run
    is final, listed under Runs not counted; a failed one is retried by the sweep)."""
    return max(0, planned - configuration.n - configuration.count(DIVERGED))


def unfinished_line(report: Report, comparison: Comparison) -> list[str]:
    """A confirmation with planned seeds still to run says so first: its numbers are a stage
    of an unfinished experiment, not its verdict. Every winner of the table counts, one
    without a completed run too."""
    planned = planned_trials(report)
    if comparison.stage != CONFIRM or planned is None:
        return []
    short = [c for c in comparison.members if pending(c, planned)]
    if not short:
        return []
    sides = ", ".join(f"{c.variant or c.label} {c.n}" for c in short)
    return [
        f"**Unfinished**: the sweep planned {planned} fresh seeds per winner "
        f"(selection.json); completed so far: {sides}. The numbers of this table are "
        "provisional until the confirmation is complete."
    ]


def confirmation_unfinished(report: Report) -> bool:
    """Some winner has planned seeds still to run, or has no run here at all (fewer winners
    with runs than selection.json chose)."""
    from rsmooth.report.build import planned_winners

    planned = planned_trials(report)
    if planned is None:
        return False
    confirmed = [c for c in report.configurations if c.stage == CONFIRM]
    return len(confirmed) < planned_winners(report.selections) or any(
        pending(c, planned) for c in confirmed
    )


def _other_baselines(comparison: Comparison) -> bool:
    """Whether a row is compared with another baseline than the table's SGD."""
    return any(r.versus and r.versus.baseline is not comparison.baseline for r in comparison.rows)


def _costlier(comparison: Comparison) -> bool:
    """Whether a row took other gradient evaluations than its baseline."""
    return any(r.compute_ratio is not None for r in comparison.rows)


def _title(report: Report, comparison: Comparison) -> str:
    context = ", ".join(f"{k}={fmt(v)}" for k, v in comparison.context.items() if v is not None)
    if comparison.stage == CONFIRM:
        return f"Verdict: confirmation runs on fresh seeds ({context})"
    label = "supplement, " if report.confirmed else ""
    baseline = baseline_name(comparison.baseline, comparison)
    return f"Against {baseline} ({label}grid, best on {report.select}; {context})"


def baseline_name(baseline: Configuration, comparison: Comparison) -> str:
    """ "tuned SGD" when its configuration was chosen among several (weight decays, lrs), else
    "the SGD baseline"; another optimizer by its label ("tuned adamw")."""
    searched = next((r.searched for r in comparison.rows if r.configuration is baseline), 1)
    name = "SGD" if baseline is comparison.baseline else baseline.label
    return f"tuned {name}" if searched > 1 else f"the {name} baseline"


def _cells(report: Report, row: Row, against: bool, equal: bool) -> list[Any]:
    c = row.configuration
    cells: list[Any] = [c.label, _details(c), row.searched, c.n]
    cells.append(accuracy(c.stats(report.metric), report.interval))
    if row.versus is None:
        cells += [""] * against + ["baseline", "", ""] + [""] * (3 * equal)
    else:
        cells += [row.versus.baseline.label] * against + _versus_cells(row.versus)
        if equal and row.equal is not None:
            twin = row.equal.baseline
            cells += [f"{twin.label}, {fmt(twin.config.get('epochs'))} epochs"]
            cells += [interval_text(row.equal.difference), p_value(row.equal.holm_p)]
        elif equal:
            none = "none among the runs" if row.compute_ratio is not None else "its baseline"
            cells += [none, "", ""]
    return cells + (cost_cells(c.cost) if report.cost else [])


def _versus_cells(versus: Versus) -> list[str]:
    d = versus.difference
    return [interval_text(d), p_value(d.p), p_value(versus.holm_p)]


def _details(c: Configuration) -> str:
    shown = [f for f in ("weight_decay", "lr") if c.config.get(f) is not None]
    return " ".join(f"{name}={fmt(c.config.get(name))}" for name in shown)


def tests_in(comparison: Comparison) -> int:
    """The comparisons of the table's Holm family: against baselines, at equal compute, and
    the declared contrasts."""
    rows = sum((r.versus is not None) + (r.equal is not None) for r in comparison.rows)
    return rows + len(comparison.contrasts)


def contrasts_section(report: Report, comparison: Comparison) -> Section | None:
    """The recipe's declared head-to-head comparisons of a confirmation table, if any."""
    if not comparison.contrasts:
        return None
    metric = report.metric
    header = ["variant", "against", f"Δ {metric} [95% CI]", "p", "p (Holm)"]
    rows, sentences = [], []
    for contrast in comparison.contrasts:
        mine, theirs = contrast.configuration, contrast.versus.baseline
        rows.append([_side(mine), _side(theirs), *_versus_cells(contrast.versus)])
        d, holm_p = contrast.versus.difference, contrast.versus.holm_p
        sentences.append(verdict(_side(mine), d, holm_p, _side(theirs)))
    notes = [
        "Declared by the recipe before any run (confirm.contrasts, recorded in "
        "selection.json): each variant's confirmed winner against another's, tested as the "
        "verdict table's rows; "
        "Holm: adjusted together with the verdict table above "
        f"({_plural(tests_in(comparison), 'comparison')} in all)."
    ]
    title = "Head to head, as the recipe declared (" + _title(report, comparison).split("(", 1)[1]
    return Section(title, header, rows, notes, sentences)


def untested_section(report: Report) -> Section | None:
    """The declared contrasts no confirmation table could test, and why: a declaration is
    never dropped in silence."""
    if not report.untested:
        return None
    rows = [[f"{a} against {b}", why] for (a, b), why in report.untested]
    notes = ["Declared by the recipe (confirm.contrasts) but not in any Holm family above."]
    return Section("Declared head-to-head comparisons not tested", ["pair", "why"], rows, notes)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _differences(comparison: Comparison) -> list[tuple[str, Difference]]:
    """Every tested difference of the table (and its contrasts), named "row against its
    baseline" (undefined ones too: which test would have run)."""
    found = []
    for row in comparison.rows:
        for versus in (row.versus, row.equal):
            if versus is not None:
                name = f"{row.configuration.label} against {versus.baseline.label}"
                if versus is row.equal:
                    name += f" at {fmt(versus.baseline.config.get('epochs'))} epochs"
                found.append((name, versus.difference))
    found += [
        (f"{_side(h.configuration)} against {_side(h.versus.baseline)}", h.versus.difference)
        for h in comparison.contrasts
    ]
    return found


def _test_text(comparison: Comparison) -> str:
    """Which two-sided test gave the p values: paired over the seeds, Welch's, or both (and
    then which rows are Welch's)."""
    paired_text = (
        "the paired t-test on the per-seed differences (both sides ran the same seeds; at one "
        "seed every method draws the same images, held-out split and initialization)"
    )
    welch_text = "Welch's t-test (unequal variances)"
    found = _differences(comparison)
    tests = {d.test for _, d in found}
    if tests == {PAIRED}:
        return paired_text
    if PAIRED not in tests:
        return welch_text
    unpaired = ", ".join(dict.fromkeys(label for label, d in found if d.test != PAIRED))
    return f"{paired_text}; {welch_text} where the seeds do not match one to one ({unpaired})"


def _family(comparison: Comparison) -> str:
    """Holm's family in words: this table's comparisons, and its declared contrasts."""
    n, total = len(comparison.contrasts), tests_in(comparison)
    if not n:
        return f"the {_plural(total, 'comparison')} of this table"
    return (
        f"{_plural(total, 'comparison')}: {total - n} in this table and "
        f"{n} declared head-to-head below"
    )


def _side(c: Configuration) -> str:
    return f"{c.variant} ({c.label})" if c.variant else c.label


def _notes(comparison: Comparison, metric: str) -> list[str]:
    tests = tests_in(comparison)
    if not tests:
        return ["The baseline alone: no method of this context to compare with it."]
    notes = [
        f"Δ: the method's {metric} averaged over its trials minus its baseline's, with the 95% "
        f"interval of the difference; p: {_test_text(comparison)}; Holm: adjusted over "
        f"{_family(comparison)}; searched: "
        f"configurations the choice was made among (for confirmed runs: the grid's, of the "
        f"same variant)."
    ]
    if _other_baselines(comparison):
        notes.append(
            "against: a method that regularizes another optimizer is compared with the plain "
            "configuration of that optimizer; plain optimizers and SGD-based methods with SGD."
        )
    if _costlier(comparison):
        notes.append(
            "equal compute: a method that took more gradient evaluations than its baseline is "
            "also compared with the SGD baseline of this context, trained for more epochs, "
            "whose runs took exactly its gradient evaluations."
        )
    return notes


# ----------------------------------------------------------------------------- sentences
def _word(difference: Difference, holm_p: float) -> str:
    if holm_p < ALPHA:
        return "better than" if difference.delta > 0 else "worse than"
    return "not distinguishable from"


def _amount(difference: Difference, holm_p: float) -> str:
    return (
        f"{signed(difference.delta)} ± {difference.half_width:.2f} points (95% CI "
        f"[{signed(difference.low)}, {signed(difference.high)}], {TEST_NAMES[difference.test]} p "
        f"{p_equals(difference.p)}, Holm p {p_equals(holm_p)})"
    )


def _why_none(difference: Difference) -> str:
    """Why a difference has no test: a side with one trial (or one shared seed), or trials
    without spread (paired: the same difference at every seed)."""
    if difference.test == PAIRED and difference.df >= 1:
        return "the same difference at every seed"
    return "too few trials"


def verdict(row_label: str, difference: Difference, holm_p: float, baseline: str) -> str:
    """One sentence: better, worse or not distinguishable from the baseline, by how much."""
    if not difference.defined:
        return f"{row_label}: {signed(difference.delta)} points; no test ({_why_none(difference)})."
    word = _word(difference, holm_p)
    return f"{row_label} is {word} {baseline} at this scale: {_amount(difference, holm_p)}."


def equal_compute_text(row: Row, baseline: str) -> str:
    """Whether the row's result holds against SGD given the same gradient evaluations."""
    if row.compute_ratio is None or row.versus is None:
        return ""
    ratio = f"{row.compute_ratio:.3g}×"
    if row.equal is None:
        return (
            f" It took {ratio} the gradient evaluations of {baseline}, and no SGD baseline of "
            f"equal compute (plain SGD trained for {ratio} the epochs) is among these runs: "
            "whether it holds at equal compute is not measured."
        )
    twin, d = row.equal.baseline, row.equal.difference
    evaluations = twin.cost.evaluations or 0
    lead = (
        f" At equal compute (against {twin.label} trained for "
        f"{fmt(twin.config.get('epochs'))} epochs, the same {evaluations:,} gradient evaluations)"
    )
    if not d.defined:
        return f"{lead}: {signed(d.delta)} points; no test ({_why_none(d)})."
    said = f"{lead} it is {_word(d, row.equal.holm_p)} it: {_amount(d, row.equal.holm_p)}"
    versus = row.versus
    if _word(versus.difference, versus.holm_p) != "better than":
        return said + "."
    survives = _word(d, row.equal.holm_p) == "better than"
    return said + f"; the gain {'survives' if survives else 'does not survive'} at equal compute."


# ----------------------------------------------------------------------------- certainty
def certainty_paragraph(comparison: Comparison, metric: str, select: str) -> list[str]:
    """One line per side whose configuration was chosen among several."""
    lines = []
    for row in comparison.rows:
        if row.certainty is None:
            continue
        c = row.configuration
        side = c.variant if comparison.stage == CONFIRM and c.variant else short_kind(c.kind)
        lines.append(certainty_text(side, row.certainty))
    if not lines:
        return []
    intro = (
        f"How sure each choice is (the grid's {select} {metric}, mean over its seeds; within "
        f"the noise: a margin under {NOISE_WIDTH:g} standard errors of the margin):"
    )
    return ["\n".join([intro, *lines])]


def certainty_text(side: str, sure: Certainty) -> str:
    return _margin_text(side, sure) + edge_text(sure.edges)


def _margin_text(side: str, sure: Certainty) -> str:
    winner, runner_up = _between(sure.winner, sure.runner_up)
    if sure.margin < 0:
        return (
            f"- {side}: the confirmed configuration ({winner}) is {-sure.margin:.2f} points "
            f"behind {runner_up} here (the sweep chose on its own split and metric)."
        )
    head = f"- {side}: {winner} over {runner_up} by {sure.margin:.2f} points"
    if not sure.estimable:
        return (
            f"{head}; the seed-to-seed noise cannot be estimated from the grid (one seed per "
            "configuration)."
        )
    noise = (
        f"{head}; seed-to-seed SD {sure.sd:.2f} (pooled over {sure.pooled} configurations, "
        f"{sure.df} df), the margin's standard error {sure.standard_error:.2f}"
    )
    if sure.within_noise:
        return noise + ": within the noise, a rerun could choose another."
    return noise + ": beyond the noise."


def edge_text(edges: tuple[Edge, ...]) -> str:
    """`` At the edge of its grid: rho=0.2 is the highest searched; ...`` (empty: none)."""
    if not edges:
        return ""
    said = "; ".join(f"{e.field}={fmt(e.value)} is the {e.end} searched" for e in edges)
    return f" At the edge of its grid: {said}, so a value beyond it was not tried."


def _between(a: Configuration, b: Configuration) -> tuple[str, str]:
    """The two configurations by the fields in which they differ."""
    names = sorted(
        {n for n in {*a.config, *b.config} if repr(a.config.get(n)) != repr(b.config.get(n))},
        key=lambda n: (FIELD_ORDER.get(n, len(FIELD_ORDER)), n),
    )
    if not names:
        return a.label, b.label

    def text(c: Configuration) -> str:
        return " ".join(f"{n}={fmt(c.config.get(n))}" for n in names)

    return text(a), text(b)


def detectable_line(found: Detectable) -> str:
    """The smallest difference the confirmation's comparisons could detect."""
    values = [d for d in found.differences if not math.isnan(d)]
    if not values:
        return (
            "Smallest difference this confirmation could detect: not computable (fewer than 2 "
            "trials per side, or no spread)."
        )
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    amount = f"{low} points" if low == high else f"{low} to {high} points"
    sizes = ", ".join(dict.fromkeys(f"{a} vs {b}" for a, b in found.sizes))
    if found.paired:
        seeds = ", ".join(dict.fromkeys(str(a) for a, _ in found.sizes))
        return (
            f"Smallest difference this confirmation could detect: {amount} (two-sided paired "
            f"t-test, α = {DETECT_ALPHA:g}, power {POWER:g}; SD of the per-seed differences "
            f"{found.sd:.2f} pooled over its {_plural(found.pooled, 'comparison')}; seeds per "
            f"comparison {seeds})."
        )
    return (
        f"Smallest difference this confirmation could detect: {amount} (two-sided t-test, "
        f"α = {DETECT_ALPHA:g}, power {POWER:g}; seed-to-seed SD {found.sd:.2f} pooled over its "
        f"{found.pooled} configurations; trials per side {sizes})."
    )

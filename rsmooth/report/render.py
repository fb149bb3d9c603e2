"""Render a report: Markdown or LaTeX (sections of tables with notes), and CSV (one record per
configuration). Each section is built once as a ``Section`` and written in either format."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsmooth.report.aggregate import CONFIRM, METRICS, Comparison, Configuration, varying_fields
from rsmooth.report.build import Report
from rsmooth.report.labels import IDENTITY_EXCLUDED, fmt, setting_fields
from rsmooth.report.paper import PaperTable
from rsmooth.report.stats import Difference, Summary
from rsmooth.runfolder import COMPLETED, STATUSES, Run

FORMATS = ("md", "csv", "latex")
ALPHA = 0.05  # the significance level of the verdicts (after Holm's adjustment)
SPLIT_NAMES = {
    "val": "the test split (the paper's protocol: the same data choose and score, so the "
    "winner's margin is inflated by the choice)",
    "holdout": "the held-out part of each run's training set (never the test split)",
}


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # paragraphs after the notes


# ----------------------------------------------------------------------------- numbers
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


def interval_text(difference: Difference) -> str:
    if not difference.defined:
        return f"{signed(difference.delta)} [—]"
    return f"{signed(difference.delta)} [{signed(difference.low)}, {signed(difference.high)}]"


def verdict(row_label: str, difference: Difference, holm_p: float, baseline: str) -> str:
    """One sentence: better, worse or not distinguishable from the SGD baseline, by how much."""
    if not difference.defined:
        return f"{row_label}: {signed(difference.delta)} points; no test (too few trials)."
    significant = holm_p < ALPHA
    if significant and difference.delta > 0:
        word = "better than"
    elif significant:
        word = "worse than"
    else:
        word = "not distinguishable from"
    return (
        f"{row_label} is {word} {baseline} at this scale: {signed(difference.delta)} ± "
        f"{difference.half_width:.2f} points (95% CI [{signed(difference.low)}, "
        f"{signed(difference.high)}], Welch p = {p_value(difference.p)}, Holm p = "
        f"{p_value(holm_p)})."
    )


# ----------------------------------------------------------------------------- sections
def header_lines(report: Report) -> list[str]:
    counts = report.status_counts()
    parts = [f"{counts[COMPLETED]} completed"] + [
        f"{counts[s]} {s}" for s in STATUSES if s != COMPLETED and counts[s]
    ]
    spread = "the half-width of a 95% t-interval" if report.interval == "ci95" else "one std"
    lines = [
        f"{len(report.runs)} runs ({', '.join(parts)}) in {len(report.configurations)} "
        f"configurations, from {', '.join(str(r) for r in report.roots)}.",
        f"Accuracies in % on the test split, mean over the completed trials (seeds) ± {spread}; "
        f"**max**: best epoch of a run, **mean**: mean of its last 10% of epochs. "
        f"Metric compared: **{report.metric}**.",
        f"Best of each grid chosen on **{report.select}**: {SPLIT_NAMES[report.select]}.",
    ]
    engines = report.engine_counts()
    if len(engines) > 1:
        lines.append(
            "**The runs come from more than one engine**: "
            + ", ".join(f"{engine} ({n} run{'s' * (n != 1)})" for engine, n in engines.items())
            + ". A configuration's trials are pooled across them (device and precision are not "
            "part of its identity), and a GPU run in bf16 does not repeat bit for bit: compare "
            "runs of one engine where the difference matters."
        )
    if report.confirmed:
        lines.append(
            "The headline is the **confirmation runs**: each method's winner run again on "
            "fresh seeds by the sweep, so no number below it was used to choose it. The grid "
            "follows as a supplement."
        )
    return lines


def comparison_section(report: Report, comparison: Comparison) -> Section:
    metric = report.metric
    context = ", ".join(f"{k}={fmt(v)}" for k, v in comparison.context.items() if v is not None)
    searched = next(r.searched for r in comparison.rows if r.is_baseline)
    # "tuned" only when SGD's configuration was chosen among several (weight decays, lrs).
    baseline = "tuned SGD" if searched > 1 else "the SGD baseline"
    if comparison.stage == CONFIRM:
        title = f"Verdict: confirmation runs on fresh seeds ({context})"
    else:
        label = "supplement, " if report.confirmed else ""
        title = f"Against {baseline} ({label}grid, best on {report.select}; {context})"
    header = [
        "method",
        "configuration",
        "searched",
        "n",
        f"{metric} ({report.interval})",
        f"Δ {metric} [95% CI]",
        "p",
        "p (Holm)",
    ]
    rows, sentences = [], []
    for row in comparison.rows:
        c = row.configuration
        cells: list[Any] = [c.label, _details(c), row.searched, c.n]
        cells.append(accuracy(c.stats(metric), report.interval))
        if row.difference is None:
            cells += ["baseline", "", ""]
        else:
            cells += [
                interval_text(row.difference),
                p_value(row.difference.p),
                p_value(row.holm_p),
            ]
            sentences.append(verdict(c.label, row.difference, row.holm_p, baseline))
        rows.append(cells)
    notes = [
        f"Δ: the method's {metric} averaged over its trials minus the baseline's, with the 95% "
        f"Welch interval of the difference; p: Welch's two-sided test; Holm: adjusted over the "
        f"{len(rows) - 1} comparisons of this table; searched: configurations the choice was "
        f"made among (for confirmed runs: the grid's, of the same variant)."
    ]
    return Section(title, header, rows, notes, sentences)


def _details(c: Configuration) -> str:
    shown = [f for f in ("weight_decay", "lr") if c.config.get(f) is not None]
    return " ".join(f"{name}={fmt(c.config.get(name))}" for name in shown)


def paper_section(table: PaperTable, report: Report) -> Section:
    header = [*table.where_columns, "method", "configuration", "n", "max", "mean"]
    if report.paper:
        header += ["paper max", "Δ max", "paper mean", "Δ mean", "differs from the paper"]
    rows = []
    for row in table.rows:
        c = row.configuration
        stats = {m: c.stats(m) for m in METRICS}
        cells: list[Any] = [fmt(row.where[w]) for w in table.where_columns]
        cells += [row.method, row.details, c.n]
        cells += [accuracy(stats["max"], report.interval), accuracy(stats["mean"], report.interval)]
        if report.paper:
            for m in METRICS:
                if row.paper is None:
                    cells += ["—", "—"]
                else:
                    delta = signed(stats[m].mean - row.paper[m]) if row.comparable else "—"
                    cells += [f"{row.paper[m]:.2f}", delta]
            cells.append("; ".join(row.differs) if row.differs else "")
        rows.append(cells)
    notes = [f"Each row: the best of its grid, chosen on {report.select}."]
    if report.paper:
        notes.append(
            "Δ = ours - paper (percentage points), shown only where the runs follow the paper's "
            "protocol; otherwise the last column says how they differ (ours (paper's))."
        )
    return Section(table.title, header, rows, notes)


def configurations_section(report: Report) -> Section:
    configurations = report.configurations
    columns = varying_fields(configurations, setting_fields())
    staged = report.confirmed
    header = ["method", *(["stage"] if staged else []), *columns, "n", "max", "mean"]
    if any(c.runs and "holdout" in (c.runs[0].config or {}) for c in configurations):
        if any((c.config.get("holdout") or 0) > 0 for c in configurations):
            header += [f"holdout {report.metric}"]
    rows = []
    for c in configurations:
        cells: list[Any] = [c.label, *([c.stage] if staged else [])]
        cells += ["" if c.config.get(name) is None else fmt(c.config.get(name)) for name in columns]
        cells += [c.n, accuracy(c.stats("max"), report.interval)]
        cells.append(accuracy(c.stats("mean"), report.interval))
        if header[-1].startswith("holdout"):
            cells.append(accuracy(c.stats(report.metric, "holdout"), report.interval))
        rows.append(cells)
    return Section("All configurations", header, rows)


def selections_section(report: Report) -> Section | None:
    if not report.selections:
        return None
    rows = []
    for record in report.selections:
        for group in record.get("groups", []):
            rows.append(
                [
                    group.get("variant") or "",
                    group.get("winner") or "(none)",
                    len(group.get("candidates", [])),
                    f"{record.get('select')} {record.get('metric')}",
                ]
            )
    notes = ["What the sweep chose for confirmation, from its confirm/selection.json."]
    return Section(
        "Confirmation choices", ["variant", "winner", "searched", "chosen on"], rows, notes
    )


def not_counted_section(report: Report) -> Section | None:
    runs = report.not_counted
    if not runs:
        return None
    counts = report.status_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s != COMPLETED and counts[s])
    rows = [[_where(report, r), r.status, r.reason] for r in runs]
    return Section(f"Runs not counted ({summary})", ["run", "status", "why"], rows)


def _where(report: Report, run: Run) -> str:
    for root in report.roots:
        try:
            return str(run.path.relative_to(root)) if run.path != root else str(run.path)
        except ValueError:
            continue
    return str(run.path)


def sections(report: Report) -> list[Section]:
    confirm = [c for c in report.comparisons if c.stage == CONFIRM]
    grid = [c for c in report.comparisons if c.stage != CONFIRM]
    found: list[Section | None] = [comparison_section(report, c) for c in confirm]
    found.append(selections_section(report))
    found += [comparison_section(report, c) for c in grid]
    found += [paper_section(t, report) for t in report.tables]
    found += [configurations_section(report), not_counted_section(report)]
    return [s for s in found if s is not None]


# ----------------------------------------------------------------------------- markdown
def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: Report) -> str:
    parts = ["# rsmooth report", "\n\n".join(header_lines(report))]
    for section in sections(report):
        text = f"## {section.title}\n\n" + markdown_table(section.header, section.rows)
        for paragraph in section.notes + section.text:
            text += "\n\n" + paragraph
        parts.append(text)
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- latex
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
_LATEX |= {"{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX |= {"±": r"$\pm$", "Δ": r"$\Delta$", "γ": r"$\gamma$", "ε": r"$\varepsilon$", "—": "--"}


def latex_escape(value: Any) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(value))


def to_latex(report: Report) -> str:
    """Each section as a booktabs table (\\usepackage{booktabs}), its notes as a footnote."""
    parts = ["% rsmooth report", *(f"% {latex_escape(line)}" for line in header_lines(report))]
    for section in sections(report):
        columns = "l" * len(section.header)
        body = [
            r"\begin{table}[ht]",
            r"\centering\small",
            rf"\caption{{{latex_escape(section.title)}}}",
            rf"\begin{{tabular}}{{{columns}}}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in section.header) + r" \\",
            r"\midrule",
            *(" & ".join(latex_escape(c) for c in row) + r" \\" for row in section.rows),
            r"\bottomrule",
            r"\end{tabular}",
        ]
        body += [rf"\par\footnotesize {latex_escape(n)}" for n in section.notes + section.text]
        body.append(r"\end{table}")
        parts.append("\n".join(body))
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- csv
def csv_records(report: Report) -> list[dict[str, Any]]:
    """One record per configuration: its config, statistics and, where it is in a comparison
    table, its difference from the baseline."""
    in_comparison: dict[str, tuple[Comparison, Any]] = {
        row.configuration.key: (table, row) for table in report.comparisons for row in table.rows
    }
    records = []
    for c in report.configurations:
        record: dict[str, Any] = {"method": c.label, "stage": c.stage, "variant": c.variant}
        record.update({k: v for k, v in c.config.items() if k not in IDENTITY_EXCLUDED})
        record["n"] = c.n
        for m in METRICS:
            s = c.stats(m)
            record.update({f"{m}_mean": s.mean, f"{m}_std": s.std, f"{m}_ci95": s.ci95})
            h = c.stats(m, "holdout")
            record[f"holdout_{m}_mean"] = h.mean
        table_row = in_comparison.get(c.key)
        row = table_row[1] if table_row else None
        difference = row.difference if row else None
        record.update(
            {
                "metric": report.metric,
                "select": report.select,
                "baseline": table_row[0].baseline.label if table_row else None,
                "searched": row.searched if row else None,
                "delta": difference.delta if difference else math.nan,
                "delta_low": difference.low if difference else math.nan,
                "delta_high": difference.high if difference else math.nan,
                "p": difference.p if difference else math.nan,
                "p_holm": row.holm_p if row else math.nan,
                "seeds": ";".join(fmt(s) for s in c.seeds),
                "max_values": ";".join(f"{v:.4f}" for v in c.values("max")),
                "mean_values": ";".join(f"{v:.4f}" for v in c.values("mean")),
            }
        )
        for status in STATUSES[1:]:
            record[status] = c.count(status)
        record["runs"] = ";".join(str(r.path) for r in c.runs)
        records.append(record)
    return records


def render(report: Report, fmt_: str) -> str:
    """The report as text in ``md``, ``latex`` or ``csv``."""
    if fmt_ == "md":
        return to_markdown(report)
    if fmt_ == "latex":
        return to_latex(report)
    if fmt_ == "csv":
        import pandas as pd

        return str(pd.DataFrame(csv_records(report)).to_csv(index=False))
    raise ValueError(f"unknown format {fmt_!r} (allowed: {', '.join(FORMATS)})")


def write_report(
    report: Report, out_dir: Path, formats: tuple[str, ...] = ("md", "csv")
) -> list[Path]:
    """report.md, report.csv (and report.tex) in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffixes = {"md": "md", "csv": "csv", "latex": "tex"}
    paths = []
    for name in formats:
        path = out_dir / f"report.{suffixes[name]}"
        path.write_text(render(report, name))
        paths.append(path)
    return paths

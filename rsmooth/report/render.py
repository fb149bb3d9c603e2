"""Render a report: Markdown or LaTeX (sections of tables with notes), and CSV (one record per
configuration). Each section is built once as a ``Section`` and written in either format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rsmooth.errors import RsmoothError
from rsmooth.report.aggregate import CONFIRM, METRICS, varying_fields
from rsmooth.report.build import GridShortfall, Report, planned_winners, unfinished_grids
from rsmooth.report.labels import fmt, setting_fields
from rsmooth.report.paper import PaperTable
from rsmooth.report.records import csv_records
from rsmooth.report.text import COST_HEADER, Section, accuracy, cost_cells, signed
from rsmooth.report.verdict import (
    comparison_section,
    confirmation_unfinished,
    contrasts_section,
    planned_trials,
    untested_section,
)
from rsmooth.runfolder import COMPLETED, FOREIGN, STATUSES, UNREADABLE, Run, atomic_write_bytes

FORMATS = ("md", "csv", "latex")
SUFFIXES = {"md": "md", "csv": "csv", "latex": "tex"}
SPLIT_NAMES = {
    "val": "the test split (the paper's protocol: the same data choose and score, so the "
    "winner's margin is inflated by the choice)",
    "holdout": "the held-out part of each run's training set (never the test split)",
}


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
    lines += input_lines(report)
    lines += [_unfinished_grid_line(grid) for grid in unfinished_grids(report)]
    if report.confirmed:
        lines.append(
            "The headline is the **confirmation runs**: each method's winner run again on "
            "fresh seeds by the sweep, so no number below it was used to choose it. The grid "
            "follows as a supplement."
        )
        if confirmation_unfinished(report):
            lines.append(
                "**The confirmation is unfinished**: some winners have fewer completed fresh "
                "seeds than the sweep planned (the verdict table says which); its numbers are "
                "provisional, not a verdict."
            )
    elif winners := planned_winners(report.selections):
        lines.append(_confirmation_not_started(winners, planned_trials(report)))
    return lines


def _confirmation_not_started(winners: int, seeds: int | None) -> str:
    """A grid whose sweep chose its winners (selection.json) before any confirmation run was
    here: its one-draw numbers are the choices, and must not read as the verdict."""
    each = f" on {seeds} fresh seeds each" if seeds else " on fresh seeds"
    return (
        f"**The confirmation has not started**: the sweep chose {winners} winners to run again"
        f"{each} (selection.json), and none of those runs is here yet. The tables below are "
        "the grid's: what the choices were made on, not a verdict."
    )


def _unfinished_grid_line(grid: GridShortfall) -> str:
    variants = ", ".join(f"{name} {final} of {planned}" for name, final, planned in grid.variants)
    return (
        f"**The grid is unfinished**: {grid.final} of the {grid.planned} grid runs that the "
        f"sweep {grid.recipe} planned are final ({grid.record}; final of planned "
        f"per variant: {variants}). Each best is chosen among the finished runs only, so "
        "until the grid is complete its choices, their searched counts and the comparisons "
        "of an unfinished variant are provisional."
    )


def input_lines(report: Report) -> list[str]:
    """What a reader must know of the input before trusting a pooled number: runs of several
    engines, runs from another recipe (foreign), damaged records (unreadable)."""
    lines = []
    engines = report.engine_counts()
    if len(engines) > 1:
        lines.append(
            "**The runs come from more than one engine**: "
            + ", ".join(f"{engine} ({_runs(n)})" for engine, n in engines.items())
            + ". A configuration's trials are pooled across them (device, precision and "
            "threads are not part of its identity), and a GPU run in bf16 does not repeat bit "
            "for bit: compare runs of one engine where the difference matters."
        )
    counts = report.status_counts()
    if counts[FOREIGN]:
        lines.append(
            f"**{_runs(counts[FOREIGN])} left out as foreign**: the folder's path names a value "
            "its config.yaml contradicts (a run of another recipe in this sweep's folder); "
            "listed under Runs not counted."
        )
    if counts[UNREADABLE]:
        lines.append(
            f"**{_runs(counts[UNREADABLE])} unreadable** (damaged records): not counted; "
            "listed under Runs not counted with the reason."
        )
    return lines


def _runs(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


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
    columns = varying_fields(configurations, setting_fields(c.method for c in configurations))
    staged = report.confirmed
    header = ["method", *(["stage"] if staged else []), *columns, "n", "max", "mean"]
    holdout = any((c.config.get("holdout") or 0) > 0 for c in configurations)
    if holdout:
        header.append(f"holdout {report.metric}")
    if report.cost:
        header += COST_HEADER
    rows = []
    for c in configurations:
        cells: list[Any] = [c.label, *([c.stage] if staged else [])]
        cells += ["" if c.config.get(name) is None else fmt(c.config.get(name)) for name in columns]
        cells += [c.n, accuracy(c.stats("max"), report.interval)]
        cells.append(accuracy(c.stats("mean"), report.interval))
        if holdout:
            cells.append(accuracy(c.stats(report.metric, "holdout"), report.interval))
        if report.cost:
            cells += cost_cells(c.cost)
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
    found: list[Section | None] = []
    for comparison in confirm:
        found += [comparison_section(report, comparison), contrasts_section(report, comparison)]
    found += [untested_section(report), selections_section(report)]
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


def to_markdown(report: Report, heading_level: int = 1) -> str:
    """The report in Markdown; ``heading_level`` is its title's level (its sections one below),
    so that a document can hold it under a heading of its own (docs/reproducing.md)."""
    title, section_mark = "#" * heading_level, "#" * (heading_level + 1)
    parts = [f"{title} rsmooth report", "\n\n".join(header_lines(report))]
    for section in sections(report):
        text = f"{section_mark} {section.title}\n\n" + markdown_table(section.header, section.rows)
        for paragraph in section.notes + section.text:
            text += "\n\n" + paragraph
        parts.append(text)
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- latex
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
_LATEX |= {"{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX |= {"±": r"$\pm$", "Δ": r"$\Delta$", "γ": r"$\gamma$", "ε": r"$\varepsilon$", "—": "--"}
_LATEX |= {"α": r"$\alpha$", "×": r"$\times$"}


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
        paragraphs = [line for n in section.notes + section.text for line in n.split("\n")]
        body += [rf"\par\footnotesize {latex_escape(n)}" for n in paragraphs]
        body.append(r"\end{table}")
        parts.append("\n".join(body))
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- output
def render(report: Report, fmt_: str, heading_level: int = 1) -> str:
    """The report as text in ``md`` (its title at ``heading_level``), ``latex`` or ``csv``."""
    if fmt_ == "md":
        return to_markdown(report, heading_level)
    if fmt_ == "latex":
        return to_latex(report)
    if fmt_ == "csv":
        import pandas as pd

        return str(pd.DataFrame(csv_records(report)).to_csv(index=False))
    raise ValueError(f"unknown format {fmt_!r} (allowed: {', '.join(FORMATS)})")


def write_report(
    report: Report,
    out_dir: Path,
    formats: tuple[str, ...] = ("md", "csv"),
    heading_level: int = 1,
) -> list[Path]:
    """report.md, report.csv (and report.tex) in ``out_dir``; returns their paths. Each file is
    replaced atomically; a folder that cannot be written is one line naming it."""
    out_dir = Path(out_dir)
    texts = {
        out_dir / f"report.{SUFFIXES[name]}": render(report, name, heading_level)
        for name in formats
    }
    target = out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for target, text in texts.items():
            atomic_write_bytes(target, text.encode())
    except OSError as err:
        why = err.strerror or type(err).__name__
        where = "" if target == out_dir else f"{target.name}: "
        raise RsmoothError(
            f"cannot write the report into {out_dir} ({where}{why}); choose another folder "
            "with --out DIR"
        ) from None
    return list(texts)

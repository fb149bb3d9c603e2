"""Render a report as Markdown (stdout and report.md) and as one CSV row per configuration."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rsmooth.report.aggregate import METRICS, varying_fields
from rsmooth.report.build import Report
from rsmooth.report.labels import IDENTITY_EXCLUDED, fmt
from rsmooth.report.paper import PaperTable
from rsmooth.report.stats import Summary
from rsmooth.runfolder import COMPLETED, STATUSES, Run

SIGNIFICANCE = 0.05


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy(summary: Summary) -> str:
    """mean ± 95% half-width, in % (two decimals, as the paper prints)."""
    if summary.n == 0:
        return "—"
    if math.isnan(summary.ci95):
        return f"{summary.mean:.2f}"
    return f"{summary.mean:.2f} ± {summary.ci95:.2f}"


def signed(value: float, decimals: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:+.{decimals}f}"


def p_value(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _where(report: Report, run: Run) -> str:
    for root in report.roots:
        try:
            return str(run.path.relative_to(root)) if run.path != root else str(run.path)
        except ValueError:
            continue
    return str(run.path)


def header_lines(report: Report) -> list[str]:
    counts = report.status_counts()
    parts = [f"{counts[COMPLETED]} completed"] + [
        f"{counts[s]} {s}" for s in STATUSES if s != COMPLETED and counts[s]
    ]
    return [
        "# rsmooth report",
        "",
        f"{len(report.runs)} runs ({', '.join(parts)}) in {len(report.configurations)} "
        f"configurations, from {', '.join(str(r) for r in report.roots)}.",
        "",
        "Validation accuracy in %, mean over the completed trials (seeds) ± the half-width of "
        "a 95% t-interval; **max**: best epoch of a run, **mean**: mean of its last 10% of "
        f"epochs. Best of a grid and significance use **{report.metric}**.",
    ]


def paper_table_markdown(table: PaperTable, report: Report) -> str:
    header = [*table.where_columns, "method", "configuration", "n", "max", "mean"]
    if report.paper:
        header += ["paper max", "Δ max", "paper mean", "Δ mean"]
    rows = []
    for row in table.rows:
        c = row.configuration
        stats = {m: c.stats(m) for m in METRICS}
        cells: list[Any] = [fmt(row.where[w]) for w in table.where_columns]
        cells += [row.method, row.details, c.n, accuracy(stats["max"]), accuracy(stats["mean"])]
        if report.paper:
            for m in METRICS:
                if row.paper is None:
                    cells += ["—", "—"]
                else:
                    cells += [f"{row.paper[m]:.2f}", signed(stats[m].mean - row.paper[m])]
        rows.append(cells)
    text = f"## {table.title}\n\n" + markdown_table(header, rows)
    if report.paper:
        text += "\n\nΔ = ours − paper (percentage points)."
    return text


def generic_table_markdown(report: Report) -> str:
    configurations = report.configurations
    columns = varying_fields(configurations)
    metric = report.metric
    header = ["method", *columns, "n", "max", "mean", f"Δ {metric} vs SGD", "p"]
    rows = []
    for c in configurations:
        cells: list[Any] = [c.label]
        cells += ["" if c.config.get(name) is None else fmt(c.config.get(name)) for name in columns]
        cells += [c.n, accuracy(c.stats("max")), accuracy(c.stats("mean"))]
        comparison = report.comparisons.get(c.key)
        if comparison is None:
            cells += ["", ""]
        elif comparison.is_baseline:
            cells += ["baseline", ""]
        else:
            mark = "*" if comparison.significant else ""
            test = comparison.test
            cells += [signed(comparison.delta) + mark, p_value(test.p) if test else "—"]
        rows.append(cells)
    note = (
        f"Δ: difference of the mean {metric} from the SGD baseline of the same model, data, "
        "ratio and protocol (plain SGD; with several weight decays, the best); "
        f"`*`: p < {SIGNIFICANCE:g} in Welch's t-test on the per-trial {metric} values; "
        "—: fewer than 2 trials or no spread."
    )
    return "## All configurations\n\n" + markdown_table(header, rows) + "\n\n" + note


def not_counted_markdown(report: Report) -> str:
    runs = report.not_counted
    if not runs:
        return ""
    counts = report.status_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s != COMPLETED and counts[s])
    rows = [[_where(report, r), r.status, r.reason] for r in runs]
    return f"## Runs not counted ({summary})\n\n" + markdown_table(["run", "status", "why"], rows)


def to_markdown(report: Report) -> str:
    sections = ["\n".join(header_lines(report))]
    sections += [paper_table_markdown(t, report) for t in report.tables]
    sections.append(generic_table_markdown(report))
    listed = not_counted_markdown(report)
    if listed:
        sections.append(listed)
    return "\n\n".join(sections) + "\n"


def _paper_rows(report: Report) -> dict[str, tuple[PaperTable, Any]]:
    return {row.configuration.key: (t, row) for t in report.tables for row in t.rows}


def csv_records(report: Report) -> list[dict[str, Any]]:
    """One record per configuration: its config, statistics, comparison and paper row."""
    in_tables = _paper_rows(report)
    records = []
    for c in report.configurations:
        record: dict[str, Any] = {"method": c.label}
        record.update({k: v for k, v in c.config.items() if k not in IDENTITY_EXCLUDED})
        record["n"] = c.n
        for m in METRICS:
            s = c.stats(m)
            record.update({f"{m}_mean": s.mean, f"{m}_std": s.std, f"{m}_ci95": s.ci95})
        comparison = report.comparisons.get(c.key)
        test = comparison.test if comparison else None
        record.update(
            {
                "metric": report.metric,
                "baseline": comparison.baseline.label if comparison else None,
                "delta_vs_sgd": comparison.delta if comparison else math.nan,
                "p_vs_sgd": test.p if test else math.nan,
                "significant": bool(comparison and comparison.significant),
                "seeds": ";".join(fmt(s) for s in c.seeds),
                "max_values": ";".join(f"{v:.4f}" for v in c.values("max")),
                "mean_values": ";".join(f"{v:.4f}" for v in c.values("mean")),
            }
        )
        for status in STATUSES[1:]:
            record[status] = c.count(status)
        table_row = in_tables.get(c.key)
        record["paper_table"] = table_row[0].id if table_row else None
        record["paper_row"] = table_row[1].method if table_row else None
        published = table_row[1].paper if (table_row and report.paper) else None
        record["paper_max"] = published["max"] if published else math.nan
        record["paper_mean"] = published["mean"] if published else math.nan
        record["runs"] = ";".join(str(r.path) for r in c.runs)
        records.append(record)
    return records


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """report.md and report.csv in ``out_dir``; returns their paths."""
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = out_dir / "report.md", out_dir / "report.csv"
    md_path.write_text(to_markdown(report))
    pd.DataFrame(csv_records(report)).to_csv(csv_path, index=False)
    return md_path, csv_path

"""The report as data: one record per configuration (report.csv, docs/report.md "Files and
formats"), with its config, its statistics, its cost and, where it is in a comparison table,
its differences from its baseline and from the SGD baseline of equal compute."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rsmooth.report.aggregate import METRICS, Configuration
from rsmooth.report.compare import Comparison, Contrast, Row, Versus
from rsmooth.report.labels import IDENTITY_EXCLUDED, fmt
from rsmooth.runfolder import FOREIGN, STATUSES

if TYPE_CHECKING:
    from rsmooth.report.build import Report

# Statuses a configuration's runs may have (a foreign run belongs to no configuration).
RUN_COUNTS = tuple(s for s in STATUSES[1:] if s != FOREIGN)


def csv_records(report: Report) -> list[dict[str, Any]]:
    in_comparison: dict[str, tuple[Comparison, Row]] = {
        row.configuration.key: (table, row) for table in report.comparisons for row in table.rows
    }
    contrasts: dict[str, list[Contrast]] = {}
    for table in report.comparisons:
        for contrast in table.contrasts:
            contrasts.setdefault(contrast.configuration.key, []).append(contrast)
    records = []
    for c in report.configurations:
        record: dict[str, Any] = {"method": c.label, "stage": c.stage, "variant": c.variant}
        record.update({k: v for k, v in c.config.items() if k not in IDENTITY_EXCLUDED})
        record.update(_statistics(c))
        record.update(_cost(c))
        record.update({"metric": report.metric, "select": report.select})
        record.update(_comparison(in_comparison.get(c.key)))
        record["contrasts"] = "; ".join(_contrast_text(x) for x in contrasts.get(c.key, []))
        record.update(
            {
                "seeds": ";".join(fmt(s) for s in c.seeds),
                "max_values": ";".join(f"{v:.4f}" for v in c.values("max")),
                "mean_values": ";".join(f"{v:.4f}" for v in c.values("mean")),
            }
        )
        for status in RUN_COUNTS:
            record[status] = c.count(status)
        record["runs"] = ";".join(str(r.path) for r in c.runs)
        records.append(record)
    return records


def _statistics(c: Configuration) -> dict[str, Any]:
    record: dict[str, Any] = {"n": c.n}
    for m in METRICS:
        s = c.stats(m)
        record.update({f"{m}_mean": s.mean, f"{m}_std": s.std, f"{m}_ci95": s.ci95})
        record[f"holdout_{m}_mean"] = c.stats(m, "holdout").mean
    return record


def _cost(c: Configuration) -> dict[str, Any]:
    cost = c.cost
    return {
        "grad_evals_per_step": cost.evaluations_per_step,
        "images": cost.images,
        "epoch_seconds": cost.epoch_seconds,
        "grad_evals": cost.evaluations,
    }


def _comparison(found: tuple[Comparison, Row] | None) -> dict[str, Any]:
    row = found[1] if found else None
    sure = row.certainty if row else None
    record: dict[str, Any] = {
        "baseline": _baseline(row),
        "searched": row.searched if row else None,
        "selection_margin": sure.margin if sure else math.nan,
        "selection_sd": sure.sd if sure else math.nan,
        "selection_edges": ";".join(
            f"{e.field}={fmt(e.value)} {e.end}" for e in (sure.edges if sure else ())
        ),
    }
    record.update(_versus("", row.versus if row else None))
    equal = row.equal if row else None
    record["equal_baseline"] = equal.baseline.label if equal else None
    record["equal_epochs"] = equal.baseline.config.get("epochs") if equal else None
    record.update(_versus("equal_", equal))
    return record


def _contrast_text(contrast: Contrast) -> str:
    """``variant: delta [low, high] p P holm H`` against the other variant's winner."""
    other, d = contrast.versus.baseline, contrast.versus.difference
    name = other.variant or other.label
    return (
        f"{name}: {d.delta:+.4f} [{d.low:+.4f}, {d.high:+.4f}] {d.test} p {d.p:.4g} "
        f"holm {contrast.versus.holm_p:.4g}"
    )


def _baseline(row: Row | None) -> str | None:
    """The label of the row's baseline (the baseline row's own)."""
    if row is None:
        return None
    return row.versus.baseline.label if row.versus else row.configuration.label


def _versus(prefix: str, versus: Versus | None) -> dict[str, Any]:
    d = versus.difference if versus else None
    return {
        f"{prefix}test": d.test if d else None,
        f"{prefix}delta": d.delta if d else math.nan,
        f"{prefix}delta_low": d.low if d else math.nan,
        f"{prefix}delta_high": d.high if d else math.nan,
        f"{prefix}p": d.p if d else math.nan,
        f"{prefix}p_holm": versus.holm_p if versus else math.nan,
    }

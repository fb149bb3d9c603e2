"""One report: the runs read, their configurations, the comparisons with tuned SGD and the
paper's tables, under one selection protocol (docs/report.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.errors import ConfigError, RsmoothError
from rsmooth.report.aggregate import CONFIRM, METRICS, SELECT_SPLITS, Configuration, group_runs
from rsmooth.report.compare import Comparison, compare, untested_contrasts
from rsmooth.report.paper import PaperTable, paper_tables
from rsmooth.report.stats import INTERVALS, PAIRED, TESTS
from rsmooth.runfolder import (
    COMPLETED,
    FINAL,
    STATUSES,
    GridPlan,
    Run,
    read_plans,
    read_results,
    shows_cpu_names,
)

SELECTION_FILE = "selection.json"  # written by a sweep's confirmation stage, beside its runs


@dataclass
class Report:
    roots: list[Path]
    metric: str  # chooses the best of a grid and the numbers compared
    select: str  # the split the best of a grid is chosen on: val (the paper's) or holdout
    interval: str  # what ± shows beside a mean: ci95 or std
    paper: bool  # show the published numbers beside ours
    cost: bool  # show what each row cost to train beside its accuracy
    test: str  # paired (over shared seeds, else Welch) or welch
    runs: list[Run]
    configurations: list[Configuration]
    comparisons: list[Comparison]
    tables: list[PaperTable]
    selections: list[dict[str, Any]]  # the sweeps' own records of their confirmation choice
    untested: list[tuple[tuple[str, str], str]]  # declared contrasts no table tests, and why
    plans: list[GridPlan]  # the grids the sweeps set out to train (plans/<recipe>.json)

    @property
    def confirmed(self) -> bool:
        return any(c.stage == CONFIRM for c in self.configurations)

    @property
    def not_counted(self) -> list[Run]:
        return [r for r in self.runs if r.status != COMPLETED]

    def status_counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.runs if r.status == s) for s in STATUSES}

    def engine_counts(self) -> dict[str, int]:
        """Completed runs per engine (device and its model, or the CPU's model and kernels;
        precision, threads, determinism) that trained them, where known."""
        engines = [
            engine for run in self.runs if run.status == COMPLETED and (engine := run.engine)
        ]
        show = shows_cpu_names(engines)
        counts: dict[str, int] = {}
        for engine in engines:
            label = engine.label(show)
            counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items()))


def build_report(
    roots: list[Path],
    metric: str = "max",
    paper: bool = False,
    select: str = "val",
    interval: str = "ci95",
    cost: bool = False,
    test: str = PAIRED,
) -> Report:
    """Read every run folder under ``roots`` and aggregate it; never fails on a bad run."""
    for name, value, allowed in (
        ("metric", metric, METRICS),
        ("select", select, SELECT_SPLITS),
        ("interval", interval, INTERVALS),
        ("test", test, TESTS),
    ):
        if value not in allowed:
            raise ConfigError(name, value, allowed)
    roots = [Path(r) for r in roots]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise ConfigError("DIR", missing[0], "an existing folder of run folders")
    runs = read_results(roots)
    if not runs:
        raise RsmoothError(
            "no run folders (a folder with config.yaml) under " + ", ".join(map(str, roots))
        )
    configurations = group_runs(runs, roots)
    selections = _selections(roots)
    declared = declared_contrasts(selections)
    comparisons = compare(configurations, metric, select, declared, test)
    return Report(
        roots=roots,
        metric=metric,
        select=select,
        interval=interval,
        paper=paper,
        cost=cost,
        test=test,
        runs=runs,
        configurations=configurations,
        comparisons=comparisons,
        tables=paper_tables(
            [c for c in configurations if c.stage != CONFIRM], metric, select, paper
        ),
        selections=selections,
        untested=untested_contrasts(comparisons, declared),
        plans=read_plans(roots),
    )


@dataclass(frozen=True)
class GridShortfall:
    """A planned grid with runs not final yet: per variant, (variant, final, planned)."""

    recipe: str
    record: str  # the plan's file, below the report's root that holds it
    final: int
    planned: int
    variants: tuple[tuple[str, int, int], ...]


def unfinished_grids(report: Report) -> list[GridShortfall]:
    """The sweeps' grids whose planned runs are not all final (completed or diverged) here: a
    grid cut short chooses each best among fewer configurations than its recipe searches."""
    final = {run.path.resolve() for run in report.runs if run.status in FINAL}
    found = []
    for plan in report.plans:
        per_variant: dict[str, list[int]] = {}
        for name, variant in plan.runs:
            counts = per_variant.setdefault(variant or "runs", [0, 0])
            counts[0] += (plan.folder / name).resolve() in final
            counts[1] += 1
        done = sum(c[0] for c in per_variant.values())
        if done < len(plan.runs):
            variants = tuple((v, c[0], c[1]) for v, c in per_variant.items())
            record = _below_a_root(plan.path, report.roots)
            found.append(GridShortfall(plan.recipe, record, done, len(plan.runs), variants))
    return found


def planned_winners(selections: list[dict[str, Any]]) -> int:
    """How many winners the sweeps chose for confirmation (selection.json's groups)."""
    return sum(
        1 for record in selections for group in record.get("groups") or [] if group.get("winner")
    )


def declared_contrasts(selections: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The head-to-head pairs the sweeps' recipes declared (``contrasts`` in selection.json),
    each once; malformed entries are skipped (the record is informative, the runs decide)."""
    pairs: list[tuple[str, str]] = []
    for record in selections:
        for pair in record.get("contrasts") or []:
            ok = isinstance(pair, list) and len(pair) == 2
            if ok and all(isinstance(n, str) for n in pair) and tuple(pair) not in pairs:
                pairs.append((pair[0], pair[1]))
    return pairs


def _selections(roots: list[Path]) -> list[dict[str, Any]]:
    found = []
    for root in roots:
        for path in sorted(root.rglob(f"{CONFIRM}/{SELECTION_FILE}")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError, RecursionError):
                continue  # informative only: the report stands on the run folders
            if isinstance(record, dict):
                found.append(record)
    return found


def _below_a_root(path: Path, roots: list[Path]) -> str:
    """``path`` as the reader named it: below the first root that holds it (two sweeps of one
    recipe under one root stay apart: cpu-bf16/plans/x.json, cuda/plans/x.json)."""
    for root in roots:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.as_posix()

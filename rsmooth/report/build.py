"""One report: the runs read, their configurations, the SGD comparisons and paper tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rsmooth.errors import ConfigError, RsmoothError
from rsmooth.report.aggregate import (
    METRICS,
    Comparison,
    Configuration,
    compare_to_baseline,
    group_runs,
)
from rsmooth.report.paper import PaperTable, paper_tables
from rsmooth.runfolder import COMPLETED, STATUSES, Run, read_runs


@dataclass
class Report:
    roots: list[Path]
    metric: str  # chooses the best of a grid and the numbers the significance test compares
    paper: bool  # show the published numbers beside ours
    runs: list[Run]
    configurations: list[Configuration]
    comparisons: dict[str, Comparison]  # by Configuration.key
    tables: list[PaperTable]

    @property
    def not_counted(self) -> list[Run]:
        return [r for r in self.runs if r.status != COMPLETED]

    def status_counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.runs if r.status == s) for s in STATUSES}


def build_report(roots: list[Path], metric: str = "max", paper: bool = False) -> Report:
    """Read every run folder under ``roots`` and aggregate it; never fails on a bad run."""
    if metric not in METRICS:
        raise ConfigError("metric", metric, METRICS)
    roots = [Path(r) for r in roots]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise ConfigError("DIR", missing[0], "an existing folder of run folders")
    runs = read_runs(roots)
    if not runs:
        raise RsmoothError(
            "no run folders (a folder with config.yaml) under " + ", ".join(map(str, roots))
        )
    configurations = group_runs(runs)
    return Report(
        roots=roots,
        metric=metric,
        paper=paper,
        runs=runs,
        configurations=configurations,
        comparisons=compare_to_baseline(configurations, metric),
        tables=paper_tables(configurations, metric),
    )

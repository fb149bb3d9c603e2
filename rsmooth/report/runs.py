"""Read run folders (docs/run-folder.md) into ``Run`` records, safely while a sweep writes them.

Every file is read once, metrics before summary: the summary is replaced atomically after the
metrics line of its epoch is appended, so a run whose summary says "completed" while our copy
of metrics.jsonl is one line short is classified as still running, never as a short
"completed" run. A half-written last metrics line is dropped (run-folder.md); any other damage
makes the run "unreadable". Nothing here raises on a bad run folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsmooth.config import RunConfig

COMPLETED = "completed"
RUNNING = "running"  # incomplete: still training, killed, or not started
DIVERGED = "diverged"
FAILED = "failed"
UNREADABLE = "unreadable"
STATUSES = (COMPLETED, RUNNING, DIVERGED, FAILED, UNREADABLE)

REQUIRED_METRICS = ("epoch", "val_acc")


@dataclass
class Run:
    path: Path
    status: str
    config: dict[str, Any] | None = None  # every RunConfig field (missing ones: the defaults)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one per epoch, by epoch
    summary: dict[str, Any] | None = None
    reason: str = ""  # why the run is not completed, for the list under the tables

    @property
    def epochs(self) -> int | None:
        """Epochs the run asks for: the config's, else the summary's."""
        value = (self.config or {}).get("epochs")
        if value is None and self.summary:
            value = self.summary.get("epochs")
        return int(value) if isinstance(value, (int, float)) and value >= 1 else None

    @property
    def epochs_done(self) -> int:
        return len(self.metrics)


def find_run_dirs(roots: list[Path]) -> list[Path]:
    """Every folder holding a config.yaml under the given folders (a root may be a run itself)."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if (root / "config.yaml").is_file():
            found.add(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if "config.yaml" in filenames:
                found.add(Path(dirpath))
    return sorted(found)


def read_runs(roots: list[Path]) -> list[Run]:
    return [read_run(path) for path in find_run_dirs(roots)]


def read_run(path: Path) -> Run:
    path = Path(path)
    config, problem = _read_config(path / "config.yaml")
    if config is None:
        return Run(path, UNREADABLE, reason=problem)
    metrics, problem = _read_metrics(path / "metrics.jsonl")
    if metrics is None:
        return Run(path, UNREADABLE, config=config, reason=problem)
    summary = _read_summary(path / "summary.json")
    run = Run(path, RUNNING, config=config, metrics=metrics, summary=summary)
    run.status, run.reason = _classify(run)
    return run


def _read_config(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        return None, f"config.yaml: {err.__class__.__name__}"
    except yaml.YAMLError:
        return None, "config.yaml is not valid YAML"
    if not isinstance(values, dict):
        return None, "config.yaml is not a mapping"
    # Runs written by an older rsmooth lack newer fields: those take their defaults, which is
    # what the older engine did. (A config cut short while being written belongs to a run that
    # has no metrics yet, so it is "running" and never counted.)
    config = dataclasses.asdict(RunConfig())
    config.update({str(k).replace("-", "_"): v for k, v in values.items()})
    return config, ""


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]] | None, str]:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], ""
    except OSError as err:
        return None, f"metrics.jsonl: {err.__class__.__name__}"
    lines = [line for line in text.splitlines() if line.strip()]
    by_epoch: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        record = _parse_record(line)
        if record is None:
            if number == len(lines):
                break  # a run killed (or being read) while writing its last line
            return None, f"metrics.jsonl line {number} is not a metrics record"
        by_epoch[int(record["epoch"])] = record  # a repeated epoch (resume): the later line wins
    return [by_epoch[e] for e in sorted(by_epoch)], ""


def _parse_record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    for key in REQUIRED_METRICS:
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
    return record


def _read_summary(path: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # absent, or caught mid-write by a non-atomic writer: judged by the metrics
    return summary if isinstance(summary, dict) else None


def _classify(run: Run) -> tuple[str, str]:
    status = (run.summary or {}).get("status")
    if status in (DIVERGED, FAILED):
        error = str((run.summary or {}).get("error", "")).strip().splitlines()
        return status, (error[0] if error else status)
    epochs = run.epochs
    if epochs is None:
        return UNREADABLE, "no epoch count in config.yaml or summary.json"
    if any(not math.isfinite(float(r["val_acc"])) for r in run.metrics):
        return DIVERGED, "non-finite validation accuracy in metrics.jsonl"
    progress = f"{run.epochs_done}/{epochs} epochs"
    if run.epochs_done < epochs:
        return RUNNING, progress
    # All epochs logged. A summary still saying "running" means the engine is between its
    # last metrics line and its final summary; no summary at all means logs copied without it.
    if status not in (None, COMPLETED):
        return RUNNING, f"{progress}, summary status {status!r}"
    return COMPLETED, ""


def run_metric(run: Run, metric: str) -> float:
    """The paper's per-run numbers, recomputed from metrics.jsonl (METHODS.md §2).

    max: the best validation accuracy over the epochs; mean: the mean validation accuracy
    over the last ceil(10% of epochs) epochs (at least one).
    """
    accuracies = [float(r["val_acc"]) for r in run.metrics]
    if not accuracies:
        return math.nan
    if metric == "max":
        return max(accuracies)
    if metric == "mean":
        epochs = run.epochs or len(accuracies)
        last = -(-epochs // 10)  # integer ceil: 0.1 * 30 is 3.0000000000000004 in floats
        tail = accuracies[-last:]
        return math.fsum(tail) / len(tail)
    raise ValueError(f"unknown metric {metric!r} (allowed: max, mean)")

"""Where each planned run stands in the out dir, read from its run folder (docs/run-folder.md).

``done`` (summary says completed) and ``diverged`` (a final result: the same seed diverges
again) are skipped; ``todo`` (no config.yaml yet) starts fresh; ``partial`` (interrupted)
and ``failed`` (an exception, perhaps transient) resume from their checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rsmooth.config import RunConfig
from rsmooth.errors import RsmoothError
from rsmooth.sweep.recipe import PlannedRun

CONFIG = "config.yaml"
SUMMARY = "summary.json"
METRICS = "metrics.jsonl"

DONE, DIVERGED, FAILED, PARTIAL, TODO = "done", "diverged", "failed", "partial", "todo"
FINAL_STATES = (DONE, DIVERGED)  # not run again

# Fields that say where and how fast a run executes, not what it computes: a run folder
# written with other values of these is still the same experiment (and --resume keeps its own).
ENGINE_FIELDS = frozenset(
    {
        "device",
        "precision",
        "channels_last",
        "compile",
        "eval_batch_size",
        "num_threads",
        "data_dir",
        "download",
    }
)


@dataclass(frozen=True)
class RunStatus:
    run: PlannedRun
    path: Path
    state: str
    epochs_completed: int
    summary: dict[str, Any]

    @property
    def epochs(self) -> int:
        return int(self.run.config.epochs or 0)

    @property
    def epochs_left(self) -> int:
        return 0 if self.state in FINAL_STATES else max(0, self.epochs - self.epochs_completed)


def read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads((path / SUMMARY).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return summary if isinstance(summary, dict) else {}


def count_epochs(path: Path) -> int:
    """Epoch lines in metrics.jsonl; a last line cut by a kill does not count."""
    try:
        lines = (path / METRICS).read_text().splitlines()
    except OSError:
        return 0
    count = 0
    for line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            break
        count += 1
    return count


def run_status(run: PlannedRun, out_dir: Path) -> RunStatus:
    path = out_dir / run.name
    if not (path / CONFIG).is_file():
        return RunStatus(run, path, TODO, 0, {})
    check_same_experiment(run, path)
    summary = read_summary(path)
    state = {"completed": DONE, "diverged": DIVERGED, "failed": FAILED}.get(
        summary.get("status"), PARTIAL
    )
    return RunStatus(run, path, state, count_epochs(path), summary)


def sweep_status(runs: list[PlannedRun], out_dir: Path) -> list[RunStatus]:
    return [run_status(run, out_dir) for run in runs]


def check_same_experiment(run: PlannedRun, path: Path) -> None:
    """Refuse to skip or resume a folder that holds another experiment (e.g. --set epochs=2)."""
    try:
        stored = RunConfig.from_dict(yaml.safe_load((path / CONFIG).read_text()) or {})
    except (yaml.YAMLError, RsmoothError, TypeError, AttributeError):
        raise RsmoothError(
            f"run folder {path}: {CONFIG} is unreadable; remove the folder"
        ) from None
    planned = run.config.to_dict()
    differ = [
        f"{key}: {value!r} there, {planned[key]!r} planned"
        for key, value in stored.to_dict().items()
        if key not in ENGINE_FIELDS and value != planned[key]
    ]
    if differ:
        raise RsmoothError(
            f"run folder {path} holds a different experiment ({'; '.join(differ[:3])}); "
            "sweep into another --out or remove the folder"
        )

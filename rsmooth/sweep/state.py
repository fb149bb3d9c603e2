"""Where each planned run stands in the out dir, read from its run folder (rsmooth.runfolder).

``completed`` and ``diverged`` runs are final and skipped; ``todo`` (no config.yaml yet) starts
fresh; ``running`` (interrupted, or training elsewhere) and ``failed`` (an exception, perhaps
transient) resume from their checkpoint, or restart from scratch where there is none
(rsmooth.sweep.restart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.config import ENGINE_FIELDS, RunConfig
from rsmooth.errors import ConfigError, RsmoothError
from rsmooth.runfolder import CHECKPOINT, CONFIG, FINAL, TODO, UNREADABLE, is_locked, read_run
from rsmooth.sweep.recipe import PlannedRun


@dataclass(frozen=True)
class RunStatus:
    run: PlannedRun
    path: Path
    state: str  # a rsmooth.runfolder status
    epochs_completed: int
    summary: dict[str, Any]
    held: bool = False  # another process holds its lock: it is training the run now

    @property
    def epochs(self) -> int:
        return int(self.run.config.epochs or 0)

    @property
    def epochs_left(self) -> int:
        if self.state in FINAL:
            return 0
        # Without a checkpoint here (a committed record on a fresh clone) it starts at epoch 1.
        kept = self.epochs_completed if (self.path / CHECKPOINT).exists() else 0
        return max(0, self.epochs - kept)


def run_status(run: PlannedRun, out_dir: Path) -> RunStatus:
    path = out_dir / run.name
    found = read_run(path)
    if found.status == TODO:
        return RunStatus(run, path, TODO, 0, {})
    if found.status == UNREADABLE or found.config is None:
        raise RsmoothError(f"run folder {path}: {found.reason}; remove the folder to run it again")
    check_same_experiment(run, path, found.config)
    held = found.status not in FINAL and is_locked(path)
    return RunStatus(run, path, found.status, found.epochs_done, found.summary or {}, held)


def sweep_status(runs: list[PlannedRun], out_dir: Path) -> list[RunStatus]:
    return [run_status(run, out_dir) for run in runs]


def check_same_experiment(run: PlannedRun, path: Path, stored: dict[str, Any]) -> None:
    """Refuse to skip or resume a folder that holds another experiment (e.g. --set epochs=2)."""
    try:
        known = {k: v for k, v in stored.items() if k in RunConfig.field_names()}
        stored_cfg = RunConfig.from_dict(known).to_dict()
    except (ConfigError, TypeError):
        raise RsmoothError(
            f"run folder {path}: its {CONFIG} does not hold a valid config; remove the folder"
        ) from None
    planned = run.config.to_dict()
    differ = [
        f"{key}: {value!r} there, {planned[key]!r} planned"
        for key, value in stored_cfg.items()
        if key not in ENGINE_FIELDS and value != planned.get(key)
    ]
    unknown = sorted(set(stored) - set(RunConfig.field_names()))
    differ += [f"{key}: set there, unknown here (a plugin not loaded?)" for key in unknown]
    if differ:
        raise RsmoothError(
            f"run folder {path} holds a different experiment ({'; '.join(differ[:3])}); "
            "sweep into another --out or remove the folder"
        )

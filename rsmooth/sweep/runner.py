"""Run a sweep: skip finished runs, start or resume the others, keep going past failures."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.runfolder import DIVERGED, FINAL
from rsmooth.sweep.jobs import Outcome, plan_jobs
from rsmooth.sweep.progress import SweepProgress
from rsmooth.sweep.recipe import PlannedRun
from rsmooth.sweep.state import RunStatus, sweep_status


@dataclass(frozen=True)
class SweepResult:
    statuses: list[RunStatus]  # every run of the recipe, as found before the sweep
    outcomes: list[Outcome]  # the runs this sweep started or resumed

    @property
    def skipped(self) -> list[RunStatus]:
        return [s for s in self.statuses if s.state in FINAL]

    @property
    def problems(self) -> list[tuple[str, str, str | None]]:
        """(run, status, error) of every run that ended diverged or failed, old or new."""
        found = [
            (s.run.name, DIVERGED, s.summary.get("error"))
            for s in self.statuses
            if s.state == DIVERGED
        ]
        found += [(o.job.name, o.status, o.error) for o in self.outcomes if o.status != "completed"]
        return found


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_sweep(
    runs: list[PlannedRun],
    out_dir: Path,
    *,
    jobs: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    gpus_per_run: float | None = None,
    console: Any = None,
) -> SweepResult:
    """Run every planned run not yet done under ``out_dir``; returns what happened.

    ``jobs``: runs at once (local: default 1; ray: default as many as the cluster fits).
    """
    statuses = sweep_status(runs, out_dir)
    todo = [s for s in statuses if s.state not in FINAL]
    if not todo:
        return SweepResult(statuses, [])
    out_dir.mkdir(parents=True, exist_ok=True)
    if executor == "local":
        from rsmooth.sweep.local import run_local

        at_once = max(1, min(jobs or 1, len(todo)))
        # A fair share of the CPU threads per concurrent run (GPU runs need few: data is on
        # the device).
        threads = max(1, cpu_count() // at_once)
        with SweepProgress(len(todo), at_once, console) as progress:
            outcomes = run_local(plan_jobs(todo, threads), out_dir, at_once, progress)
    else:
        from rsmooth.sweep.ray_exec import run_ray

        ray_at_once = min(jobs, len(todo)) if jobs else None
        with SweepProgress(len(todo), ray_at_once or len(todo), console) as progress:
            outcomes = run_ray(
                todo, progress, address=ray_address, gpus_per_run=gpus_per_run, parallel=ray_at_once
            )
    return SweepResult(statuses, outcomes)

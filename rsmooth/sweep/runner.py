"""Run a sweep: skip finished runs, start or resume the others, keep going past failures."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.runfolder import DIVERGED, FINAL, write_plan
from rsmooth.sweep.confirm import choose, plan_confirmation, write_choices
from rsmooth.sweep.jobs import SKIPPED, Job, Outcome, plan_jobs
from rsmooth.sweep.progress import SweepProgress
from rsmooth.sweep.recipe import PlannedRun, Recipe
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
        found += [
            (o.job.name, o.status, o.error)
            for o in self.outcomes
            if o.status not in ("completed", SKIPPED)
        ]
        return found

    @property
    def held_elsewhere(self) -> list[str]:
        """Runs another process was training: left to it (two sweeps share one out folder)."""
        return [o.job.name for o in self.outcomes if o.status == SKIPPED]


DEFAULT_TIMEOUT_MIN = 240  # submitit: a job's time limit; a run that needs longer is requeued


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_run(jobs: int | None) -> int:
    """A local run's CPU threads where its config does not set them: a fair share of this
    machine's CPUs among ``--jobs`` runs at once. It depends on --jobs alone, not on how many
    runs are left: on the CPU the thread count is part of the arithmetic (rsmooth.sweep.engines),
    so the last runs of a sweep, or a resumed sweep, must compute as its first runs did."""
    return max(1, cpu_count() // (jobs or 1))


def run_sweep(
    runs: list[PlannedRun],
    out_dir: Path,
    *,
    jobs: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    gpus_per_run: float | None = None,
    pack: int = 1,
    pack_on_cpu: bool = False,
    cpus_per_run: int | None = None,
    slurm_partition: str | None = None,
    timeout_min: int = DEFAULT_TIMEOUT_MIN,
    console: Any = None,
) -> SweepResult:
    """Run every planned run not yet done under ``out_dir``; returns what happened.

    ``executor``: local (subprocesses), ray or submitit (SLURM). ``jobs``: processes at once
    (local: default 1; ray and submitit: default as many as the cluster fits).
    ``gpus_per_run``, ``cpus_per_run``: what each run reserves (ray, submitit);
    ``slurm_partition``, ``timeout_min``: submitit's. ``pack``: up to this many runs train
    together as one packed model in one process (local executor; rsmooth.engine), where packing
    pays (see ``packs``).
    """
    statuses = sweep_status(runs, out_dir)
    todo = [s for s in statuses if s.state not in FINAL]
    if not todo:
        return SweepResult(statuses, [])
    out_dir.mkdir(parents=True, exist_ok=True)
    if executor == "local":
        outcomes = _run_local(todo, out_dir, jobs, pack, pack_on_cpu, console)
    elif executor == "ray":
        outcomes = _run_ray(todo, jobs, ray_address, gpus_per_run, cpus_per_run, console)
    else:
        outcomes = _run_submitit(
            todo, out_dir, jobs, slurm_partition, gpus_per_run, cpus_per_run, timeout_min, console
        )
    return SweepResult(statuses, outcomes)


def _run_local(
    todo: list[RunStatus],
    out_dir: Path,
    jobs: int | None,
    pack: int,
    pack_on_cpu: bool,
    console: Any,
) -> list[Outcome]:
    from rsmooth.sweep.local import run_local

    at_once = max(1, min(jobs or 1, len(todo)))
    units = packs(plan_jobs(todo, threads_per_run(jobs)), pack, pack_on_cpu)
    with SweepProgress(len(todo), at_once, console) as progress:
        return run_local(units, out_dir, at_once, progress)


def _run_ray(
    todo: list[RunStatus],
    jobs: int | None,
    address: str | None,
    gpus_per_run: float | None,
    cpus_per_run: int | None,
    console: Any,
) -> list[Outcome]:
    from rsmooth.sweep.ray_exec import run_ray

    at_once = min(jobs, len(todo)) if jobs else None
    with SweepProgress(len(todo), at_once or len(todo), console) as progress:
        return run_ray(
            todo,
            progress,
            address=address,
            gpus_per_run=gpus_per_run,
            cpus_per_run=cpus_per_run,
            parallel=at_once,
        )


def _run_submitit(
    todo: list[RunStatus],
    out_dir: Path,
    jobs: int | None,
    partition: str | None,
    gpus_per_run: float | None,
    cpus_per_run: int | None,
    timeout_min: int,
    console: Any,
) -> list[Outcome]:
    from rsmooth.sweep.submitit_exec import run_submitit

    at_once = min(jobs, len(todo)) if jobs else None
    with SweepProgress(len(todo), at_once or len(todo), console) as progress:
        return run_submitit(
            todo,
            progress,
            out_dir,
            partition=partition,
            gpus_per_run=gpus_per_run,
            cpus_per_run=cpus_per_run or 1,
            timeout_min=timeout_min,
            parallel=at_once,
        )


def packs(jobs: list[Job], size: int, on_cpu: bool = False) -> list[list[Job]]:
    """The jobs in packs of at most ``size`` runs that may share one (rsmooth.engine.packing),
    else one run per unit. On the CPU, packing is off unless ``on_cpu``: there it measured
    slower than separate runs (0.72-0.86x at K = 2-4, docs/performance.md), since a CPU step
    is already ~97% inside its kernels, while a GPU idles between the launches packing saves."""
    if size <= 1 or not jobs:
        return [[job] for job in jobs]
    from rsmooth.engine.environment import device_of
    from rsmooth.engine.packing import group_packs

    cpu = device_of(jobs[0].config).type == "cpu"
    if cpu and not on_cpu:
        return [[job] for job in jobs]
    groups = group_packs([job.config for job in jobs], size)
    return [[jobs[i] for i in group] for group in groups]


@dataclass(frozen=True)
class StageResult:
    stage: str  # "grid" or "confirm"
    result: SweepResult | None  # None: the stage did not run (see note)
    note: str = ""


def plan_entries(runs: list[PlannedRun]) -> list[tuple[str, str | None]]:
    """The grid as its plan records it (rsmooth.runfolder.write_plan): name and variant."""
    return [(run.name, run.variant) for run in runs]


def run_recipe(
    recipe: Recipe, runs: list[PlannedRun], out_dir: Path, **options: Any
) -> list[StageResult]:
    """The grid, then, where the recipe asks for it and the grid is finished, the confirmation
    of its winners on fresh seeds (rsmooth.sweep.confirm). ``options`` go to ``run_sweep``.
    The grid's plan is recorded first (plans/<recipe>.json), so a report of a grid cut short
    says so."""
    write_plan(out_dir, recipe.name, plan_entries(runs))
    grid = run_sweep(runs, out_dir, **options)
    stages = [StageResult("grid", grid)]
    if recipe.confirm is None:
        return stages
    planned, note = confirmation_runs(recipe, runs, out_dir)
    if not planned:
        return [*stages, StageResult("confirm", None, note)]
    return [*stages, StageResult("confirm", run_sweep(planned, out_dir, **options), note)]


def confirmation_runs(
    recipe: Recipe, runs: list[PlannedRun], out_dir: Path, *, record: bool = True
) -> tuple[list[PlannedRun], str]:
    """The confirmation runs when the grid is finished (and, with ``record``, selection.json
    written; a dry run only looks), else none and why."""
    unfinished = [s for s in sweep_status(runs, out_dir) if s.state not in FINAL]
    if unfinished:
        return [], (
            f"waits for the grid: {len(unfinished)} of its runs are not finished "
            f"({unfinished[0].run.name}: {unfinished[0].state})"
        )
    choices = choose(recipe, runs, out_dir)
    if record:
        write_choices(recipe, choices, out_dir)
    without = [c for c in choices if c.winner is None]
    note = f"{len(choices) - len(without)} winners"
    if without:
        note += f"; no eligible configuration in variant {without[0].variant}"
    return plan_confirmation(recipe, choices), note

"""What an executor is given (jobs), what runs on a worker (``train_task``), and what it
reports back (outcomes)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rsmooth.config import RunConfig
from rsmooth.runfolder import COMPLETED, DIVERGED, FAILED, FINAL, RunLockedError, run_lock
from rsmooth.sweep.state import RunStatus


@dataclass(frozen=True)
class Job:
    name: str  # the run's folder relative to the out dir
    path: Path
    config: RunConfig = field(repr=False)  # resolved, num_threads set for this machine's split


SKIPPED = "skipped"  # another process holds the run's lock: it is training that run
HELD_ELSEWHERE = "done or held by another process"  # the error text of a skipped run


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # completed, diverged or failed (summary.json's final states), or skipped
    seconds: float  # wall time of this attempt
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False)


class Listener(Protocol):
    """Told when each job starts and ends (the progress display)."""

    def started(self, job: Job) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


def one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def plan_jobs(statuses: list[RunStatus], threads: int) -> list[Job]:
    """A job per run still to do, with ``threads`` CPU threads unless its config sets them;
    runs whose folder holds a config.yaml resume."""
    jobs = []
    for status in statuses:
        if status.state in FINAL:
            continue
        config = status.run.config
        if config.num_threads is None:
            config = config.replace(num_threads=threads)
        jobs.append(Job(status.run.name, status.path, config))
    return jobs


def worker_python_path() -> str:
    """PYTHONPATH for the processes that train a sweep's runs: this rsmooth, installed or
    not, and this folder, where the runs' plugin modules may live (rsmooth.plugins)."""
    package_root = str(Path(__file__).resolve().parents[2])
    folders = [package_root, os.getcwd(), os.environ.get("PYTHONPATH")]
    return os.pathsep.join(filter(None, folders))


def train_task(config: dict[str, Any], path: str) -> tuple[dict[str, Any], float]:
    """One run on a worker of another process (a Ray task, a submitit job): its summary and
    seconds. resume=True: a new folder starts, an interrupted one continues. The config
    arrives as values: building it imports the plugins it names first (rsmooth.parts).
    ``train_run`` takes the folder's lock; a run another process holds is skipped."""
    from rsmooth.engine import train_run
    from rsmooth.parts import config_from_dict
    from rsmooth.sweep.restart import start_afresh

    began = time.perf_counter()
    try:
        cfg = config_from_dict(config)
        with run_lock(path):  # a run without a checkpoint here starts as this sweep plans it
            start_afresh(Path(path), cfg)
        summary = train_run(cfg, Path(path), resume=True, quiet=True)
    except RunLockedError:
        summary = {"status": SKIPPED, "error": HELD_ELSEWHERE}
    except Exception as err:  # reported as this run's failure; the sweep goes on
        summary = {"status": FAILED, "error": one_line(f"{type(err).__name__}: {err}")}
    return summary, time.perf_counter() - began


def outcome_of(job: Job, summary: dict[str, Any], seconds: float) -> Outcome:
    """The outcome of a ``train_task``; a status it should not have counts as failed."""
    status = summary.get("status")
    if status not in (COMPLETED, DIVERGED, FAILED, SKIPPED):
        status = FAILED
    return Outcome(job, status, seconds, summary.get("error"), summary)

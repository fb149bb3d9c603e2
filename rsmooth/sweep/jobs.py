"""What an executor is given (jobs) and what it reports back (outcomes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rsmooth.config import RunConfig
from rsmooth.runfolder import FINAL, TODO
from rsmooth.sweep.state import RunStatus


@dataclass(frozen=True)
class Job:
    name: str  # the run's folder relative to the out dir
    path: Path
    config: RunConfig = field(repr=False)  # resolved, num_threads set for this machine's split
    resume: bool  # the folder holds a config.yaml: continue it rather than start it


SKIPPED = "skipped"  # another process holds the run's lock: it is training that run


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
        jobs.append(Job(status.run.name, status.path, config, resume=status.state != TODO))
    return jobs

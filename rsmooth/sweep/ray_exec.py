"""The Ray executor: each run is a Ray task calling ``train_run`` on its run folder.

Ray is an optional extra (``pip install 'rsmooth[ray]'``), imported only here. Without
``--ray-address`` a private local Ray instance is started (no dashboard, no usage reports:
it stays offline). With an address, every node needs rsmooth (and the runs' plugins)
installed and must see the out dir at the same path (a shared file system), since the tasks
write the run folders.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rsmooth.errors import RsmoothError
from rsmooth.runfolder import COMPLETED, DIVERGED, FAILED
from rsmooth.sweep.jobs import Job, Listener, Outcome, one_line, plan_jobs
from rsmooth.sweep.state import RunStatus


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RsmoothError(
            "--executor ray needs Ray: pip install 'rsmooth[ray]' (or pip install ray)"
        ) from None
    return ray


def train_task(config: dict[str, Any], path: str) -> tuple[dict[str, Any], float]:
    """Runs on a Ray worker. resume=True: a new folder starts, an interrupted one continues.
    The config arrives as values: building it imports the plugins it names first."""
    from rsmooth.config import RunConfig
    from rsmooth.engine import train_run

    began = time.perf_counter()
    try:
        summary = train_run(RunConfig.from_dict(config), Path(path), resume=True, quiet=True)
    except Exception as err:  # reported as this run's failure; the sweep goes on
        summary = {"status": "failed", "error": one_line(f"{type(err).__name__}: {err}")}
    return summary, time.perf_counter() - began


def run_ray(
    statuses: Sequence[RunStatus],
    listener: Listener,
    *,
    address: str | None,
    gpus_per_run: float | None,
    parallel: int | None,
) -> list[Outcome]:
    """Run the runs as Ray tasks, ``parallel`` at once (None: as many as the cluster fits)."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _init(ray, address)
    outcomes: list[Outcome] = []
    in_flight: dict[Any, Job] = {}
    try:
        resources = ray.cluster_resources()
        if gpus_per_run is None:
            gpus_per_run = 1.0 if resources.get("GPU", 0) > 0 else 0.0
        # With a cap on runs at once, each gets a fair share of the cluster's CPUs; else one
        # CPU each, as many at once as fit. The run's torch threads match its CPU reservation.
        cpus = max(1, int(resources.get("CPU", 1) // parallel)) if parallel else 1
        task = ray.remote(train_task).options(num_cpus=cpus, num_gpus=gpus_per_run, max_retries=0)
        pending = plan_jobs(list(statuses), cpus)
        limit = parallel or len(pending)
        while pending or in_flight:
            while pending and len(in_flight) < limit:
                job = pending.pop(0)
                in_flight[task.remote(job.config.to_dict(), str(job.path))] = job
                listener.started(job)
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                job = in_flight.pop(ref)
                outcome = _outcome(ray, ref, job)
                outcomes.append(outcome)
                listener.finished(outcome)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
    return outcomes


def _init(ray: Any, address: str | None) -> None:
    # Read by Ray at init: no usage statistics are sent (the machine may be offline).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **quiet)
        return
    # Workers import this rsmooth, and the plugin modules of this folder (rsmooth.plugins):
    # they start elsewhere, and the runs' configs name the plugins by module.
    package_root = str(Path(__file__).resolve().parents[2])
    folders = [package_root, os.getcwd(), os.environ.get("PYTHONPATH")]
    python_path = os.pathsep.join(filter(None, folders))
    ray.init(
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": python_path}},
        **quiet,
    )


def _outcome(ray: Any, ref: Any, job: Job) -> Outcome:
    try:
        summary, seconds = ray.get(ref)
    except Exception as err:  # the worker died (out of memory, node lost)
        return Outcome(job, "failed", 0.0, one_line(f"{type(err).__name__}: {err}"))
    status = summary.get("status")
    if status not in (COMPLETED, DIVERGED, FAILED):
        status = FAILED
    return Outcome(job, status, seconds, summary.get("error"), summary)

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
from collections.abc import Sequence
from typing import Any

from rsmooth.errors import RsmoothError
from rsmooth.runfolder import FAILED
from rsmooth.sweep.jobs import (
    Job,
    Listener,
    Outcome,
    one_line,
    outcome_of,
    plan_jobs,
    train_task,
    worker_python_path,
)
from rsmooth.sweep.state import RunStatus


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RsmoothError(
            "--executor ray needs Ray: pip install 'rsmooth[ray]' (or pip install ray)"
        ) from None
    return ray


def run_ray(
    statuses: Sequence[RunStatus],
    listener: Listener,
    *,
    address: str | None,
    gpus_per_run: float | None,
    cpus_per_run: int | None,
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
        # Unless given, with a cap on runs at once each gets a fair share of the cluster's
        # CPUs; else one CPU each, as many at once as fit. The run's torch threads match its
        # CPU reservation.
        cpus = cpus_per_run or (max(1, int(resources.get("CPU", 1) // parallel)) if parallel else 1)
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
    ray.init(
        include_dashboard=False,
        # Workers start elsewhere: they import this rsmooth and this folder's plugin modules.
        runtime_env={"env_vars": {"PYTHONPATH": worker_python_path()}},
        **quiet,
    )


def _outcome(ray: Any, ref: Any, job: Job) -> Outcome:
    try:
        summary, seconds = ray.get(ref)
    except Exception as err:  # the worker died (out of memory, node lost)
        return Outcome(job, FAILED, 0.0, one_line(f"{type(err).__name__}: {err}"))
    return outcome_of(job, summary, seconds)

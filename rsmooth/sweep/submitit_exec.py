"""The submitit executor: a SLURM job array, one task per run, each calling ``train_run`` on
its run folder (``rsmooth.sweep.jobs.train_task``).

submitit is an optional extra (``pip install 'rsmooth[submitit]'``); importing this module
is the check, with a one-line install hint. Where SLURM is not found (no ``srun``),
submitit's local executor runs the same jobs as processes on this machine, all at once: a
way to try a recipe's cluster path. The job files and logs go to ``<out>/submitit/``.

A job that reaches its time limit (or is preempted) is requeued with the same run:
submitit signals it shortly before the limit and calls ``TrainJob.checkpoint``, and the
next job continues the run folder from its last finished epoch's checkpoint, as
``rsmooth train --resume`` would. Runs started this way are ordinary run folders;
``train_run`` takes each folder's lock itself, so a run another process trains is skipped.
Jobs run where the cluster puts them: rsmooth, the out dir and the runs' plugins must be
on a file system the nodes share (jobs start in this folder, with this Python).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
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

try:
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:
    raise RsmoothError(
        "--executor submitit needs submitit: pip install 'rsmooth[submitit]' "
        "(or pip install submitit)"
    ) from None

LOG_DIR = "submitit"  # in the sweep's out dir
POLL_SECONDS = 2.0
# Requeues of one run on timeout (submitit's default is 3): each job continues the run, so a
# run longer than the partition's limit needs one job per limit's worth of epochs.
MAX_TIMEOUTS = 20


class TrainJob(Checkpointable):
    """One run as a submitit job: ``train_task(config, path)``. Its ``checkpoint`` (inherited:
    called by submitit on timeout or preemption) resubmits this same call, so the requeued
    job resumes the same run folder."""

    def __call__(self, config: dict[str, Any], path: str) -> tuple[dict[str, Any], float]:
        return train_task(config, path)


def run_submitit(
    statuses: Sequence[RunStatus],
    listener: Listener,
    out_dir: Path,
    *,
    partition: str | None,
    gpus_per_run: float | None,
    cpus_per_run: int,
    timeout_min: int,
    parallel: int | None,
) -> list[Outcome]:
    """Submit the runs as one job array, at most ``parallel`` running at once (None: as the
    cluster allows), and wait for them. Stopping the sweep cancels the jobs it submitted;
    their runs resume from their checkpoints on the next sweep."""
    jobs = plan_jobs(list(statuses), cpus_per_run)
    if gpus_per_run is None:  # a GPU per run unless every run is on the CPU
        gpus_per_run = 0 if all(job.config.device == "cpu" for job in jobs) else 1
    if gpus_per_run != int(gpus_per_run):
        raise RsmoothError(
            f"--gpus-per-run {gpus_per_run:g} with --executor submitit (allowed: a whole "
            "number of GPUs per job; fractions are for --executor ray)"
        )
    executor = submitit.AutoExecutor(folder=out_dir / LOG_DIR, slurm_max_num_timeout=MAX_TIMEOUTS)
    executor.update_parameters(
        name="rsmooth",
        timeout_min=timeout_min,
        cpus_per_task=cpus_per_run,
        gpus_per_node=int(gpus_per_run),
        nodes=1,
        tasks_per_node=1,
        slurm_partition=partition,
        slurm_array_parallelism=parallel or len(jobs),
    )
    with _worker_environment():
        submitted = executor.map_array(
            TrainJob(), [job.config.to_dict() for job in jobs], [str(job.path) for job in jobs]
        )
    for job in jobs:
        listener.started(job)
    waiting = dict(zip(submitted, jobs, strict=True))
    outcomes: list[Outcome] = []
    try:
        while waiting:
            for handle in [h for h in waiting if h.done()]:
                outcome = _outcome(handle, waiting.pop(handle))
                outcomes.append(outcome)
                listener.finished(outcome)
            if waiting:
                time.sleep(POLL_SECONDS)
    finally:
        for handle in waiting:
            with contextlib.suppress(Exception):  # cancelling is best effort: it may be done
                handle.cancel(check=False)
    return outcomes


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Jobs inherit the environment they are submitted from (sbatch --export=ALL, the local
    executor's processes): for the submission, PYTHONPATH leads to this rsmooth and this
    folder's plugins."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = worker_python_path()
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def _outcome(handle: Any, job: Job) -> Outcome:
    try:
        summary, seconds = handle.result()
    except Exception as err:  # the job itself failed: killed, out of memory, node lost
        return Outcome(job, FAILED, 0.0, one_line(f"{type(err).__name__}: {err}"))
    return outcome_of(job, summary, seconds)

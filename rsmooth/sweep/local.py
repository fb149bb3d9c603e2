"""The local executor: N runs at once on this machine, each in its own ``rsmooth train`` process.

A process per run isolates crashes and thread settings, and lets several small runs share
one GPU. Each child's output goes to ``<out>/logs/<run>.log``; its result is what it wrote
to ``summary.json``. If the sweep is interrupted, its children are stopped (they leave a
resumable checkpoint); on Linux they also die with the sweep if it is killed outright.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rsmooth.runfolder import COMPLETED, DIVERGED, FAILED, read_run
from rsmooth.sweep.jobs import Job, Listener, Outcome, one_line

FINAL_STATUSES = (COMPLETED, DIVERGED, FAILED)
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0


def log_path(out_dir: Path, job: Job) -> Path:
    return out_dir / "logs" / (job.name.replace("/", "__") + ".log")


def run_local(
    jobs: Sequence[Job], out_dir: Path, parallel: int, listener: Listener
) -> list[Outcome]:
    pending = list(jobs)
    running: dict[subprocess.Popen, tuple[Job, float, Path | None]] = {}
    outcomes: list[Outcome] = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                process, config_file = _launch(job, out_dir)
                running[process] = (job, time.perf_counter(), config_file)
                listener.started(job)
            for process in [p for p in running if p.poll() is not None]:
                job, began, config_file = running.pop(process)
                if config_file is not None:
                    config_file.unlink(missing_ok=True)
                outcome = _outcome(job, process.returncode, time.perf_counter() - began, out_dir)
                outcomes.append(outcome)
                listener.finished(outcome)
            if running:
                time.sleep(POLL_SECONDS)
    finally:
        _stop(running)
        try:
            (out_dir / "logs").rmdir()  # only if no run left a log
        except OSError:
            pass
    return outcomes


def _launch(job: Job, out_dir: Path) -> tuple[subprocess.Popen, Path | None]:
    log = log_path(out_dir, job)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rsmooth", "train"]
    config_file = None
    if job.resume:
        command += ["--resume", str(job.path)]
    else:
        fd, name = tempfile.mkstemp(dir=log.parent, prefix=".", suffix=".config.yaml")
        with os.fdopen(fd, "w") as f:
            f.write(job.config.to_yaml())
        config_file = Path(name)
        command += ["--config", str(config_file), "--out", str(job.path)]
    command.append("--quiet")
    env = dict(os.environ)
    if job.config.num_threads is not None:
        # Also covers a resumed run, whose own config.yaml keeps the thread count of its start.
        env["OMP_NUM_THREADS"] = str(job.config.num_threads)
    # The child imports this very rsmooth, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    return process, config_file


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the sweep dies, even by SIGKILL (Linux prctl)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _outcome(job: Job, returncode: int, seconds: float, out_dir: Path) -> Outcome:
    found = read_run(job.path)
    summary = found.summary or {}
    status = found.status
    log = log_path(out_dir, job)
    if status in FINAL_STATUSES:
        if log.is_file() and log.stat().st_size == 0:
            log.unlink()  # keep only the logs that say something
        return Outcome(job, status, seconds, summary.get("error") or found.reason or None, summary)
    # The process died without a final summary (killed, out of memory, a usage error).
    try:
        tail = one_line(log.read_text(errors="replace")[-4000:])
    except OSError:
        tail = ""
    error = f"exit code {returncode}" + (f": {tail}" if tail else "")
    return Outcome(job, "failed", seconds, error, summary)


def _stop(running: dict[subprocess.Popen, tuple[Job, float, Path | None]]) -> None:
    """Interrupt the children the way Ctrl-C would; they exit at a resumable point."""
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process, (_, _, config_file) in running.items():
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if config_file is not None:
            config_file.unlink(missing_ok=True)

"""The local executor: N runs at once on this machine, each in its own ``rsmooth train`` process.

A process per run isolates crashes and thread settings, and lets several small runs share
one GPU. Ownership: before launching a run, the sweep takes the run folder's lock
(rsmooth.runfolder.run_lock) and hands it to the child (an inherited file descriptor), so two
sweeps on one out folder share the work without ever training one run twice: a run whose lock
another process holds is skipped, as a worker on a shared file system would skip it. The
sweep writes a new run's config.yaml itself (no temporary files) and the child continues the
folder with --resume. Each child's output goes to ``<out>/logs/<run>.log``, kept only when it
says something (see ``drop_if_silent``); its result is what it wrote to summary.json. Stopping
the sweep (Ctrl-C, SIGTERM) sends SIGTERM to its children, which stop at a resumable point; on
Linux they also get SIGTERM if the sweep is killed outright.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from rsmooth import interrupt
from rsmooth.interrupt import INTERRUPTED
from rsmooth.runfolder import (
    COMPLETED,
    DIVERGED,
    FAILED,
    LOCK_FD_ENV,
    RunLockedError,
    read_run,
    run_lock,
)
from rsmooth.sweep.jobs import (
    HELD_ELSEWHERE,
    SKIPPED,
    Job,
    Listener,
    Outcome,
    one_line,
    worker_python_path,
)
from rsmooth.sweep.restart import start_afresh

FINAL_STATUSES = (COMPLETED, DIVERGED, FAILED)
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
# What a stopped child prints: the run folder already says it (status running), so a log that
# holds nothing else says nothing (rsmooth.interrupt.Interrupted).
STOP_LINE = f"rsmooth: error: {INTERRUPTED} "
SILENT_LOG_BYTES = 4096  # a longer log says something


def log_path(out_dir: Path, jobs: Job | Sequence[Job]) -> Path:
    """``logs/<run>.log``, or for a pack ``logs/pack-<first run>.log``."""
    first = jobs if isinstance(jobs, Job) else jobs[0]
    prefix = "" if isinstance(jobs, Job) or len(jobs) == 1 else "pack-"
    return out_dir / "logs" / (prefix + first.name.replace("/", "__") + ".log")


class _Running:
    """A child process and the runs it trains (one, or a pack)."""

    def __init__(
        self,
        jobs: list[Job],
        process: subprocess.Popen[bytes],
        locks: contextlib.ExitStack,
        log: Path,
    ) -> None:
        self.jobs = jobs
        self.process = process
        self.locks = locks  # released (closed) when the child has ended
        self.log = log
        self.began = time.perf_counter()

    def close(self) -> None:
        """After the child ended: drop its log if it said nothing, then release the runs.
        In this order: while the sweep holds the locks, no other sweep writes to that log."""
        drop_if_silent(self.log)
        self.locks.close()


def run_local(
    units: Sequence[Sequence[Job]], out_dir: Path, parallel: int, listener: Listener
) -> list[Outcome]:
    """Train the units (a run, or a pack of runs trained by one process) ``parallel`` at a
    time; returns one outcome per run."""
    pending = [list(unit) for unit in units]
    running: list[_Running] = []
    outcomes: list[Outcome] = []
    _remove_legacy_configs(out_dir)

    def finish(outcome: Outcome) -> None:
        outcomes.append(outcome)
        listener.finished(outcome)

    try:
        while pending or running:
            while pending and len(running) < parallel:
                with interrupt.deferred():  # a started child is always in `running`, to stop
                    started, skipped = _launch(pending.pop(0), out_dir)
                    if started is not None:
                        running.append(started)
                for job in skipped:  # another process trains it: not ours
                    finish(Outcome(job, SKIPPED, 0.0, HELD_ELSEWHERE))
                if started is not None:
                    for job in started.jobs:
                        listener.started(job)
            for entry in [r for r in running if r.process.poll() is not None]:
                running.remove(entry)
                seconds = time.perf_counter() - entry.began
                code = entry.process.returncode
                ended = [_outcome(job, entry.jobs, code, seconds, out_dir) for job in entry.jobs]
                entry.close()  # after _outcome: a dead child's last log line is its error
                for outcome in ended:
                    finish(outcome)
            if running:
                time.sleep(POLL_SECONDS)
            interrupt.check()
    finally:
        _stop(running)
        with contextlib.suppress(OSError):
            (out_dir / "logs").rmdir()  # only if no run left a log
    return outcomes


def _launch(unit: list[Job], out_dir: Path) -> tuple[_Running | None, list[Job]]:
    """Take the runs' locks, write the configs of new runs, start the child that trains them.
    Returns the started child (None if no run is left to it) and the runs held elsewhere."""
    locks = contextlib.ExitStack()
    mine: list[tuple[Job, int]] = []
    skipped = []
    try:
        for job in unit:
            try:
                fd = locks.enter_context(run_lock(job.path))
            except RunLockedError:
                skipped.append(job)
                continue
            if read_run(job.path).status in (COMPLETED, DIVERGED):
                skipped.append(job)  # another sweep finished it since this one looked
                continue
            # A new run, or one with no checkpoint here (a committed record on a fresh clone):
            # its config.yaml is this sweep's plan, validated before any run started.
            start_afresh(job.path, job.config)
            mine.append((job, fd))
        if not mine:
            locks.close()
            return None, skipped
        jobs = [job for job, _ in mine]
        fds = [fd for _, fd in mine]
        log = log_path(out_dir, jobs)
        log.parent.mkdir(parents=True, exist_ok=True)
        drop_if_silent(log)  # left by a sweep killed outright: it could not tidy it
        # One process trains its runs as one pack (one run: a pack of one), as a user would.
        command = [sys.executable, "-m", "rsmooth", "train", "--quiet"]
        for job in jobs:
            command += ["--resume", str(job.path)]
        env = dict(os.environ)
        env[LOCK_FD_ENV] = ",".join(map(str, fds))
        threads = jobs[0].config.num_threads
        if threads is not None:
            # Also covers a resumed run, whose own config.yaml keeps the thread count of its start.
            env["OMP_NUM_THREADS"] = str(threads)
        env["PYTHONPATH"] = worker_python_path()  # this very rsmooth, and this folder's plugins
        with open(log, "ab") as log_file:
            process = _spawn(command, env, log_file, fds)
    except BaseException:
        locks.close()
        raise
    return _Running(jobs, process, locks, log), skipped


def _spawn(
    command: list[str], env: dict[str, str], log: IO[bytes], fds: list[int]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        pass_fds=tuple(fds),  # the runs' locks: the child owns its runs while it lives
        preexec_fn=_child_signals if sys.platform == "linux" else None,
    )


def _child_signals() -> None:
    """In the child, before exec: default signal handling even when the sweep was started in
    the background by a shell (which ignores SIGINT for it), and SIGTERM when the sweep dies,
    even by SIGKILL (Linux prctl)."""
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _outcome(job: Job, unit: list[Job], returncode: int, seconds: float, out_dir: Path) -> Outcome:
    found = read_run(job.path)
    summary = found.summary or {}
    status = found.status
    log = log_path(out_dir, unit)
    if status in FINAL_STATUSES:
        return Outcome(job, status, seconds, summary.get("error") or found.reason or None, summary)
    # The process died without a final summary (killed, out of memory, a usage error).
    try:
        tail = one_line(log.read_text(errors="replace")[-4000:])
    except OSError:
        tail = ""
    error = f"exit code {returncode}" + (f": {tail}" if tail else "")
    return Outcome(job, "failed", seconds, error, summary)


def _stop(running: list[_Running]) -> None:
    """Stop the children the way a job scheduler would (SIGTERM): they save nothing partial and
    exit at a resumable point; after a grace period, SIGKILL (the last checkpoint stays)."""
    for entry in running:
        if entry.process.poll() is None:
            entry.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for entry in running:
        try:
            entry.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            entry.process.kill()
            entry.process.wait()
        entry.close()


def drop_if_silent(log: Path) -> None:
    """Remove a child's log that says nothing: empty (the sweep creates it before the child
    has anything to say), or only the line of a stop, which the run folder records anyway.
    Called only by the sweep that holds the log's runs, when no child writes to it."""
    try:
        size = log.stat().st_size
        if size > SILENT_LOG_BYTES:
            return
        lines = log.read_text(errors="replace").splitlines() if size else []
        if all(line.startswith(STOP_LINE) or not line.strip() for line in lines):
            log.unlink()
    except OSError:  # absent (the usual case before a launch), or unreadable: leave it
        return


def _remove_legacy_configs(out_dir: Path) -> None:
    """Older sweeps passed configs through temporary files in logs/; a SIGKILL could leave
    them behind. This sweep writes none; it removes what an older one left."""
    for path in (out_dir / "logs").glob(".*.config.yaml") if (out_dir / "logs").is_dir() else []:
        path.unlink(missing_ok=True)

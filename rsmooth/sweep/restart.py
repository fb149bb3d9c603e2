"""Incomplete runs without a checkpoint on this machine: they restart from scratch.

A results folder committed to git holds each run's config.yaml, metrics.jsonl and summary.json,
never its checkpoints (large, and tied to the machine that wrote them). On a fresh clone a
completed record is done (rsmooth.sweep.state); an incomplete one (running or failed) cannot
continue without its model's state, so it starts again from epoch 1, and the sweep says so, one
line per run. It restarts as this machine's sweep plans it: its config.yaml is written anew,
since the engine fields of the machine that began it (its data_dir, its thread count) describe
nothing that runs here; the fields of the experiment are the same (state.check_same_experiment).
"""

from __future__ import annotations

from pathlib import Path

from rsmooth.config import RunConfig
from rsmooth.runfolder import CHECKPOINT, FAILED, FINAL, RUNNING, RunFolder, read_run
from rsmooth.sweep.state import RunStatus


def restarts_from_scratch(status: RunStatus) -> bool:
    """An incomplete run that nobody trains now and that has no checkpoint here."""
    started = status.state in (RUNNING, FAILED)
    return started and not status.held and not (status.path / CHECKPOINT).exists()


def restart_note(status: RunStatus) -> str:
    done = status.epochs_completed
    recorded = f"epoch {done} of {status.epochs} recorded" if done else "no epoch recorded"
    return f"restarting {status.run.name} from scratch: no checkpoint on this machine ({recorded})"


def restart_notes(statuses: list[RunStatus]) -> list[str]:
    return [restart_note(s) for s in statuses if restarts_from_scratch(s)]


def start_afresh(path: Path, config: RunConfig) -> None:
    """Before a run starts or restarts from scratch: write its config.yaml from this machine's
    plan. Call it holding the run's lock. A run with a checkpoint resumes as it began (its own
    config), and a finished run is never touched (a committed record has no checkpoint either)."""
    folder = RunFolder(path)
    if folder.file(CHECKPOINT).exists() or read_run(path).status in FINAL:
        return
    folder.create(config)

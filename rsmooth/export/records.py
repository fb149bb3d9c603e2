"""The records of finished runs, copied into a results tree that a repository can hold.

A results tree is data (docs/reproducing.md, "Results are data"): per finished run its
config.yaml, metrics.jsonl and summary.json, never a checkpoint or best.pt (megabytes per run,
and what a rerun on another machine recomputes), laid out as the sweep laid the runs out, with
the sweep's confirm/selection.json and plans/<recipe>.json. Only final runs are copied
(completed, diverged): a run still training here would be a record that the next machine
restarts from scratch. A record already in the tree is left as it is when identical; a
different one is refused before anything is copied, so an export never overwrites a committed
result silently (the sweep's own records too). Torch-free.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rsmooth.errors import RsmoothError
from rsmooth.runfolder import CONFIG, FINAL, METRICS, PLANS, SUMMARY, Run, read_runs

RECORDS = (CONFIG, METRICS, SUMMARY)
SWEEP_FILES = ("confirm/selection.json",)  # what a sweep writes beside its runs (and plans)


def sweep_files(source: Path) -> tuple[str, ...]:
    """The sweep's own records under ``source`` (relative): selection.json and the plans."""
    plans = sorted(p.relative_to(source).as_posix() for p in (source / PLANS).glob("*.json"))
    return (*SWEEP_FILES, *plans)


@dataclass
class Copied:
    runs: list[Path] = field(default_factory=list)  # copied now
    same: list[Path] = field(default_factory=list)  # already in the tree, identical
    skipped: list[Run] = field(default_factory=list)  # not final: left out


def export_records(source: Path, out: Path) -> Copied:
    """Copy the records of every final run under ``source`` into ``out`` (same layout)."""
    copied = Copied()
    planned: list[tuple[Path, Path, list[str]]] = []  # (run folder, target, files to copy)
    for run in read_runs([source]):
        if run.status not in FINAL:
            copied.skipped.append(run)
            continue
        target = out / run.path.relative_to(source)
        planned.append((run.path, target, _to_copy(run.path, target, RECORDS)))
    to_copy = _to_copy(source, out, sweep_files(source))
    for found, target, names in planned:
        if not names:  # every record there already, identical
            copied.same.append(target)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(found / name, target / name)
        copied.runs.append(target)
    for name in to_copy:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, out / name)
    return copied


def _to_copy(found: Path, target: Path, names: tuple[str, ...]) -> list[str]:
    """The files of ``names`` that ``target`` lacks (each file read once); a file the target
    holds differently is refused before anything is copied: results are filled where missing,
    never replaced by another record."""
    missing = []
    for name in names:
        if not (found / name).exists():
            continue
        if not (target / name).exists():
            missing.append(name)
        elif (found / name).read_bytes() != (target / name).read_bytes():
            raise RsmoothError(
                f"{target / name} holds a different record than {found / name}: results are "
                "never overwritten; export into another --out or remove it first"
            )
    return missing

"""The records of finished runs, copied into a results tree that a repository can hold.

A results tree is data (docs/reproducing.md, "Results are data"): per finished run its
config.yaml, metrics.jsonl and summary.json, never a checkpoint or best.pt (megabytes per run,
and what a rerun on another machine recomputes), laid out as the sweep laid the runs out, with
the sweep's confirm/selection.json. Only final runs are copied (completed, diverged): a run
still training here would be a record that the next machine restarts from scratch. A record
already in the tree is replaced only by an identical one; a different one is refused, so an
export never overwrites a committed result silently. Torch-free.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rsmooth.errors import RsmoothError
from rsmooth.runfolder import CONFIG, FINAL, METRICS, SUMMARY, Run, read_runs

RECORDS = (CONFIG, METRICS, SUMMARY)
SWEEP_FILES = ("confirm/selection.json",)  # what a sweep writes beside its runs


@dataclass
class Copied:
    runs: list[Path] = field(default_factory=list)  # copied now
    same: list[Path] = field(default_factory=list)  # already in the tree, identical
    skipped: list[Run] = field(default_factory=list)  # not final: left out


def export_records(source: Path, out: Path) -> Copied:
    """Copy the records of every final run under ``source`` into ``out`` (same layout)."""
    copied = Copied()
    planned = []
    for run in read_runs([source]):
        if run.status not in FINAL:
            copied.skipped.append(run)
            continue
        target = out / run.path.relative_to(source)
        planned.append((run.path, target))
        _check_replaceable(run.path, target)
    for found, target in planned:
        if all(_same(found / name, target / name) for name in RECORDS):
            copied.same.append(target)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            if (found / name).exists():
                shutil.copyfile(found / name, target / name)
        copied.runs.append(target)
    for name in SWEEP_FILES:
        if (source / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, out / name)
    return copied


def _check_replaceable(found: Path, target: Path) -> None:
    """A record in the tree may be replaced by the same record, or filled where missing."""
    if not target.exists():
        return
    different = [n for n in RECORDS if (target / n).exists() and not _same(found / n, target / n)]
    if different:
        raise RsmoothError(
            f"{target} holds a different record ({', '.join(different)}) than {found}: "
            "results are never overwritten; export into another --out or remove it first"
        )


def _same(a: Path, b: Path) -> bool:
    if not a.exists() or not b.exists():
        return a.exists() == b.exists()
    return a.read_bytes() == b.read_bytes()

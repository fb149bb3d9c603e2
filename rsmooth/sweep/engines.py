"""Which engine trains a run, and whether a sweep would add another engine to its out folder.

An engine is what decides a run's arithmetic beyond its config's experiment: the device (its
kind and model; on the CPU its model and its kernels' instruction set), the precision, on the
CPU the thread count (oneDNN splits reductions by thread), and on a GPU deterministic kernels or
not. A config asks for ``device: auto`` and ``precision: auto``; each machine resolves them its
own way, so one recipe gives different engines on a laptop and on a GPU node, and on a GPU the
drift between engines is as large as the differences a grid chooses between
(docs/reproducing.md). summary.json's ``environment`` records the engine a run used; this
machine's is what the engine itself would resolve (``select_environment``), so the two are
compared like for like.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rsmooth.config import RunConfig
from rsmooth.errors import ConfigError
from rsmooth.runfolder import (
    CHECKPOINT,
    COMPLETED,
    FINAL,
    KERNEL_FLAGS,
    Engine,
    read_run,
    recorded_engine,
    shows_cpu_names,
)
from rsmooth.sweep.state import RunStatus

# The config fields that select the engine on a given machine (cache key of planned_engine).
ENGINE_CHOICE = ("device", "precision", "num_threads", "deterministic", "cuda_graphs")


def planned_engine(cfg: RunConfig) -> Engine | None:
    """The engine a run of ``cfg`` would use on this machine; None if it cannot run here."""
    import torch

    from rsmooth.engine.environment import select_environment

    threads = torch.get_num_threads()
    try:
        environment = select_environment(cfg)  # sets torch's threads: restored below
        on_cpu = environment.device.type == "cpu"
        described = environment.describe(cfg) if on_cpu else describe_in_a_child(cfg)
    except ConfigError:  # device cuda without one: a dry run lists such a recipe anyway
        return None
    finally:
        torch.set_num_threads(threads)
    if described is None:
        return None  # not known here: not compared
    for flag in KERNEL_FLAGS:
        described.setdefault(flag, bool(getattr(cfg, flag, False)))
    return recorded_engine({"environment": described})


# The engine's own description of a GPU run, asked of a short-lived process: reading the GPU's
# name initializes CUDA in the process that reads it, which may then hold a context (and GPU
# memory); the sweep's process lives as long as the sweep, on the GPU its runs share.
_DESCRIBE = """
import json, sys
from rsmooth.config import RunConfig
from rsmooth.engine.environment import select_environment
cfg = RunConfig(**json.loads(sys.argv[1]))
print(json.dumps(select_environment(cfg).describe(cfg)))
"""
DESCRIBE_FIELDS = (
    "device",
    "precision",
    "num_threads",
    "channels_last",
    "compile",
    "deterministic",
    "cuda_graphs",
)


def describe_in_a_child(cfg: RunConfig) -> dict[str, Any] | None:
    import json
    import subprocess
    import sys

    from rsmooth.sweep.jobs import worker_python_path

    fields = {name: getattr(cfg, name) for name in DESCRIBE_FIELDS if hasattr(cfg, name)}
    env = dict(os.environ, PYTHONPATH=worker_python_path())
    done = subprocess.run(
        [sys.executable, "-c", _DESCRIBE, json.dumps(fields)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        described = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None  # the child failed: its error is the run's to report, where it runs
    return described if isinstance(described, dict) else None


@dataclass(frozen=True)
class EngineMix:
    """Completed records of some engines, and runs left that this machine would run on another."""

    recorded: dict[Engine, int]  # completed records per engine, most first
    new: tuple[Engine, ...]  # the engines of runs left that match no record's

    def message(self) -> str:
        show = shows_cpu_names((*self.recorded, *self.new))
        total = sum(self.recorded.values())
        ran = f"{total} completed record{'s' * (total != 1)} ran on "
        if len(self.recorded) == 1:
            ran += next(iter(self.recorded)).label(show)
        else:
            ran += " and ".join(f"{e.label(show)} ({n})" for e, n in self.recorded.items())
        here = " and ".join(e.label(show) for e in self.new)
        hints = ["sweep into another --out", *match_hints(next(iter(self.recorded)), self.new[0])]
        # Records that name no CPU, where this CPU's runs differ from them in the name alone:
        # nothing in them says whether they ran here, and only the user can know.
        unnamed = sorted({r.cpu_shown for r in self.recorded for e in self.new if r.named_alike(e)})
        why = (
            f" ({', '.join(unnamed)}: recorded before rsmooth named the CPU's model and "
            "instruction set, so nothing says these records ran on this CPU; mix them only if "
            "you know they did)"
            if unnamed
            else ""
        )
        return (
            f"{ran}; new runs here would be {here}: their trials are a different engine{why} — "
            f"{', or '.join(hints)}"
        )


def match_hints(recorded: Engine, here: Engine) -> list[str]:
    """The flags that make this machine's runs the recorded engine, where flags can."""
    if recorded.device != here.device:
        return ["--device cpu to match"] if recorded.device == "cpu" else []
    if recorded.device_name != here.device_name and not recorded.cpu_unnamed:
        return []  # another GPU or CPU model: no flag makes this one that one
    # the same device, or a CPU record that names no CPU: the flags still match the rest
    sets = []
    if recorded.precision != here.precision:
        sets.append(f"--set precision={recorded.precision}")
    if recorded.threads is not None and recorded.threads != here.threads:
        sets.append(f"--set num_threads={recorded.threads}")
    for flag in KERNEL_FLAGS:
        want, have = getattr(recorded, flag), getattr(here, flag)
        if None not in (want, have) and want != have:
            sets.append(f"--set {flag}={str(want).lower()}")
    return [" ".join(sets) + " to match"] if sets else []


def engine_mix(
    statuses: Iterable[RunStatus], config_here: Callable[[RunStatus], RunConfig]
) -> EngineMix | None:
    """Whether the runs left would bring an engine that no completed record of ``statuses``
    used (None: they would not, or nothing is recorded). ``config_here``: the config a run
    left would train with on this machine."""
    statuses = list(statuses)
    recorded = Counter(
        engine
        for status in statuses
        if status.state == COMPLETED and (engine := recorded_engine(status.summary)) is not None
    )
    if not recorded:
        return None
    planned: dict[tuple[Any, ...], Engine | None] = {}
    for status in statuses:
        if status.state in FINAL or status.held:
            continue
        cfg = config_here(status)
        key = tuple(getattr(cfg, name, None) for name in ENGINE_CHOICE)
        if key not in planned:
            planned[key] = planned_engine(cfg)
    new = [e for e in planned.values() if e is not None and not any(e.matches(r) for r in recorded)]
    if not new:
        return None
    return EngineMix(dict(recorded.most_common()), tuple(dict.fromkeys(new)))


def local_config(status: RunStatus, threads: int) -> RunConfig:
    """The config a run left trains with on this machine's local executor: its own config.yaml
    where it resumes from a checkpoint (it goes on as it began), else the plan, with the
    executor's thread count where the plan leaves it open (rsmooth.sweep.jobs.plan_jobs)."""
    if (status.path / CHECKPOINT).exists():
        stored = read_run(status.path).config or {}
        known = RunConfig.field_names()
        return RunConfig.from_dict({k: v for k, v in stored.items() if k in known})
    cfg = status.run.config
    return cfg if cfg.num_threads is not None else cfg.replace(num_threads=threads)

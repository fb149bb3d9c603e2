"""``rsmooth bench``: per-method step cost against plain SGD, the engine against a plain PyTorch
loop, and K packed runs against K separate ones, measured in one process, alternating, after
warm-up (never in tests).

catalogue.py (the methods, from the registries), harness.py (timing, and the engine's own
steps on synthetic data), contenders.py (what each table times), render.py (Markdown and
JSON rows), settings.py (every flag checked before anything is timed); ``run_bench`` here
puts them together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from rsmooth.bench.catalogue import METHODS, target
from rsmooth.bench.contenders import bench_engine, bench_methods, bench_packs
from rsmooth.bench.render import engine_table, methods_table, packs_table
from rsmooth.bench.settings import BenchSettings, not_runnable
from rsmooth.config import RunConfig
from rsmooth.engine.environment import select_environment

__all__ = ["METHODS", "BenchSettings", "not_runnable", "run_bench", "target"]


def run_bench(
    base: RunConfig, settings: BenchSettings, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every table the settings ask for, as a JSON-able dict with a 'markdown' rendering;
    ``progress`` is told when each part starts."""
    out: dict[str, Any] = {"setup": setup_line(base, settings), "methods": [], "engine": []}
    lines = [out["setup"], ""]
    if settings.methods_table:
        names = ["sgd"] + [m for m in settings.methods if m != "sgd"]
        progress(f"timing {len(names)} methods: {', '.join(names)}")
        rows, table = methods_table(bench_methods(base, names, settings, progress))
        out["methods"] = rows
        lines += table
        left_out = {m: p for m, p in not_runnable(base).items() if m not in settings.methods}
        if left_out:
            needs = ", ".join(f"{m} (needs {p})" for m, p in left_out.items())
            lines += ["", f"Not timed, a package missing: {needs}."]
            out["not_timed"] = left_out
        lines.append("")
    if settings.engine:
        progress("timing the engine against a plain PyTorch loop")
        fields, table = engine_table(bench_engine(base, settings, progress))
        out.update(fields)
        lines += table
    if settings.packs:
        rows, table = packs_table(bench_packs(base, settings, progress))
        out["packs"] = rows
        lines += ["", *table]
    out["markdown"] = "\n".join(lines)
    return out


def setup_line(base: RunConfig, settings: BenchSettings) -> str:
    env = select_environment(base)
    return (
        f"device: {env.device_name} ({env.device}, {torch.get_num_threads()} threads), "
        f"torch {torch.__version__}, model {base.model}, data shape {base.data}, "
        f"batch {base.batch_size}, precision {env.precision}, channels_last {env.channels_last}, "
        f"compile {base.compile}, deterministic {base.deterministic}, "
        f"cuda_graphs {base.cuda_graphs}; median of "
        f"{settings.rounds} alternating blocks of {settings.steps} steps; "
        "ratios: median over rounds of the per-round ratio"
    )

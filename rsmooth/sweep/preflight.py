"""Everything a sweep can check before its first run starts, so that a 320-run recipe with a
missing data set fails once, in one line, instead of 320 times: the device of every run and the
files of every data set it reads (the configs and the output folder are checked before this).

Runs that execute elsewhere (a Ray cluster, SLURM) are checked where they run, not here: the
machine that submits them may have neither the GPU nor the data.
"""

from __future__ import annotations

from rsmooth.errors import ConfigError
from rsmooth.sweep.recipe import PlannedRun


def check_runs_can_start(runs: list[PlannedRun]) -> None:
    """Raise the first problem that would make a run fail at its start on this machine."""
    import torch

    from rsmooth.data.loading import check_available

    if not torch.cuda.is_available():
        on_cuda = [r for r in runs if r.config.device == "cuda"]
        if on_cuda:
            raise ConfigError(
                "device", "cuda", f"auto or cpu: no CUDA device here (run {on_cuda[0].name})"
            )
    checked: set[tuple[object, ...]] = set()
    for run in runs:
        cfg = run.config
        key = (cfg.data, cfg.data_dir, cfg.download)
        if key not in checked and not cfg.download:
            check_available(cfg)  # a DataError naming the data set and the folder
        checked.add(key)

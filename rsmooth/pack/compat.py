"""Which runs may share a pack, and the grouping of a sweep's runs into packs of at most K.

A pack steps all its runs in lockstep on one model: the same architecture, the same data set
and subset fraction (equal training-set sizes, so equal batches per epoch and an equal last
batch), the same batch size, epochs, precision and device. Everything else may differ per run
(seed, lr and its schedule, optimizer and its hyperparameters, loss, label smoothing, flooding,
smoothing anneal/b/mu/alpha/s0, AGR, rho / gamma / eps of the step rule): it lives in each
run's own optimizer, transform and in the (K,) tensors of the packed objective.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from rsmooth.config import RunConfig
from rsmooth.errors import RsmoothError
from rsmooth.models import build_model
from rsmooth.pack.models import PACKED_MODELS
from rsmooth.pack.objective import FAMILIES
from rsmooth.pack.step import PACKED_STEP_RULES

# Fields every run of a pack shares, and why.
SHARED = {
    "model": "one architecture is packed",
    "data": "one data set feeds the pack",
    "data_dir": "one data set feeds the pack",
    "download": "one data set feeds the pack",
    "subset": "equal training-set sizes give equal batches per step",
    "holdout": "equal training-set sizes give equal batches per step",
    "epochs": "the runs step in lockstep",
    "val_start": "the runs are evaluated in the same epochs",
    "batch_size": "the runs step in lockstep on equal batches",
    "eval_batch_size": "the runs are evaluated on the same batches",
    "precision": "one forward pass runs at one precision",
    "channels_last": "one forward pass has one memory format",
    "device": "one model lives on one device",
    "num_threads": "one process has one thread count",
    "compile": "one model is compiled or not",
    "step_rule": "one pack runs one step rule's passes",
    "detach_kappa": "the packed smoothing loss has one graph",
    "layers": "the packed smoothing loss applies W the same number of times",
}


def packable(cfgs: Sequence[RunConfig]) -> tuple[bool, str]:
    """(True, "") when ``cfgs`` can train as one pack, else (False, the reason in one line)."""
    if not cfgs:
        return False, "no runs to pack"
    try:
        cfgs = [c.resolve() for c in cfgs]
    except RsmoothError as err:
        return False, str(err)
    first = cfgs[0]
    for field, why in SHARED.items():
        values = {getattr(c, field) for c in cfgs}
        if len(values) > 1:
            shown = ", ".join(sorted(map(repr, values)))
            return False, f"runs differ in {field} ({shown}): {why}"
    if first.step_rule not in PACKED_STEP_RULES:
        return False, (
            f"step rule {first.step_rule} is not packed (packed: {', '.join(PACKED_STEP_RULES)}): "
            "double backprop through the grouped model is not implemented; train it unpacked"
        )
    if first.holdout > 0 and len({c.seed for c in cfgs}) > 1:
        return False, (
            "holdout > 0 with different seeds: each seed holds out its own class-stratified "
            "part, so the training-set sizes (and batches per epoch) may differ"
        )
    losses = {c.loss for c in cfgs} - set(FAMILIES)
    if losses:
        return False, f"loss {sorted(losses)[0]} has no packed form (packed: {', '.join(FAMILIES)})"
    if _architecture(first.model) not in PACKED_MODELS:
        return False, f"model {first.model} has no packed form"
    return True, ""


@functools.cache
def _architecture(model: str) -> type:
    # Built once per name, with the caller's random state left as it was. (On the meta device
    # the init would import torch._dynamo: 4 s.)
    with torch.random.fork_rng(devices=[]):
        return type(build_model(model, 3, 10))


def pack_key(cfg: RunConfig) -> tuple:
    """Runs with equal keys may share a pack (given ``packable`` accepts one of them)."""
    cfg = cfg.resolve()
    seed = (cfg.seed,) if cfg.holdout > 0 else ()
    return tuple(getattr(cfg, field) for field in SHARED) + seed


def group_packs(cfgs: Sequence[RunConfig], size: int) -> list[list[int]]:
    """The indices of ``cfgs`` in packs of at most ``size`` runs, in order of first appearance;
    a run that cannot be packed (``packable([cfg])`` says no) is a group of its own. A group
    of one is trained by ``train_run`` as well as by ``train_packed``."""
    if size < 1:
        raise ValueError(f"pack size must be >= 1, got {size}")
    groups: dict[tuple, list[int]] = {}
    alone: list[list[int]] = []
    for index, cfg in enumerate(cfgs):
        if packable([cfg])[0]:
            groups.setdefault(pack_key(cfg), []).append(index)
        else:
            alone.append([index])
    packs = [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]
    return sorted(packs + alone, key=lambda g: g[0])

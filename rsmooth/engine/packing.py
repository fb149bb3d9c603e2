"""Which runs may train as one pack, and the grouping of a sweep's runs into packs of at most K.

Derived from the declarations, never from a list kept here: every config field says where it
is declared how a pack treats it (rsmooth/config.py: ``Shared`` with the reason, or ``PerRun``
with the mechanism that carries it; a plugin's ``ConfigField(pack=...)``). Runs that differ in
a shared field, or in a field that declares nothing, cannot share a pack (fail closed: a new
option is refused with a reason, never silently ignored by a pack). Besides the fields, the
model must have a packed form (rsmooth/models/packed.py) for a pack of more than one run.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from rsmooth.config import PerRun, RunConfig, Shared, field_names, field_packing
from rsmooth.errors import RsmoothError
from rsmooth.models import build_model
from rsmooth.models.packed import packed_form
from rsmooth.parts import resolve


def packable(cfgs: Sequence[RunConfig]) -> tuple[bool, str]:
    """(True, "") when ``cfgs`` can train as one pack, else (False, the reason in one line)."""
    if not cfgs:
        return False, "no runs to pack"
    try:
        cfgs = [resolve(c) for c in cfgs]
    except RsmoothError as err:
        return False, str(err)
    if len(cfgs) == 1:
        return True, ""  # one run is a pack of one, whatever its parts
    for name in field_names():
        values = {repr(c.get(name)) for c in cfgs}
        if len(values) > 1:
            why = _why_not_per_run(name, cfgs)
            if why:
                return False, f"runs differ in {name} ({', '.join(sorted(values))}): {why}"
    if packed_form(_architecture(cfgs[0].model)) is None:
        return False, f"model {cfgs[0].model} has no packed form (rsmooth/models/packed.py)"
    return True, ""


def _why_not_per_run(name: str, cfgs: Sequence[RunConfig]) -> str:
    """Why runs that differ in field ``name`` cannot share a pack ("" when they can)."""
    packing = field_packing(name)
    if packing is None:
        return "the field declares no packing (ConfigField(pack=...)), so a pack cannot carry it"
    if isinstance(packing, Shared):
        return packing.why
    assert isinstance(packing, PerRun)
    if packing.unless and any(c.get(packing.unless) for c in cfgs):
        return f"with {packing.unless} set, {packing.why_unless}"
    return ""


@functools.cache
def _architecture(model: str) -> type[torch.nn.Module]:
    # Built once per name, with the caller's random state left as it was. (On the meta device
    # the init would import torch._dynamo: 4 s.)
    with torch.random.fork_rng(devices=[]):
        return type(build_model(model, 3, 10))


def pack_key(cfg: RunConfig) -> tuple[str, ...]:
    """Runs with equal keys may share a pack (given ``packable`` accepts one of them): the
    values of every field a pack cannot carry per run."""
    cfg = resolve(cfg)
    key = []
    for name in field_names():
        packing = field_packing(name)
        per_run = isinstance(packing, PerRun) and not (packing.unless and cfg.get(packing.unless))
        if not per_run:
            key.append(f"{name}={cfg.get(name)!r}")
    return tuple(key)


def group_packs(cfgs: Sequence[RunConfig], size: int) -> list[list[int]]:
    """The indices of ``cfgs`` in packs of at most ``size`` runs, in order of first appearance;
    a run whose model has no packed form is a group of its own."""
    if size < 1:
        raise ValueError(f"pack size must be >= 1, got {size}")
    groups: dict[tuple[str, ...], list[int]] = {}
    alone: list[list[int]] = []
    for index, cfg in enumerate(cfgs):
        if packed_form(_architecture(resolve(cfg).model)) is None:
            alone.append([index])
        else:
            groups.setdefault(pack_key(cfg), []).append(index)
    packs = [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]
    return sorted(packs + alone, key=lambda g: g[0])

"""The training step has no host synchronization, for every registered part of a method, one
run (K = 1) and a pack (K = 2): the Tensor methods that read a number back to the host raise
during the steps, and the steps still run (the prerequisite of capturing a step as a CUDA
graph; on a GPU every such read would wait for the device).

One exception, by torch's own design: an optimizer's step counter (Adam's, AdamW's, Adagrad's
``state["step"]``) is a tensor kept on the host, whose value it reads as a Python number; on a
GPU that read costs no device synchronization (the counter never leaves the CPU)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch

from rsmooth.bench.catalogue import METHODS
from rsmooth.bench.harness import Stepper, synthetic_split
from rsmooth.config import RunConfig
from rsmooth.data import DATASETS

SYNCS = ("item", "tolist", "numpy", "nonzero", "__bool__", "__float__", "__int__", "__index__")


class HostSync(AssertionError):
    pass


@contextlib.contextmanager
def no_host_sync(allowed: set[int]) -> Iterator[None]:
    """Every host read of a tensor's values raises, except on the tensors in ``allowed``."""
    originals = {name: getattr(torch.Tensor, name) for name in SYNCS}

    def guard(name: str):
        original = originals[name]

        def method(self, *args, **kwargs):
            if id(self) not in allowed:
                raise HostSync(f"Tensor.{name} inside a training step")
            return original(self, *args, **kwargs)

        return method

    try:
        for name in SYNCS:
            setattr(torch.Tensor, name, guard(name))
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def host_step_counters(stepper: Stepper) -> set[int]:
    found = set()
    for run in stepper.pack.runs:
        for state in run.optimizer.state.values():
            step = state.get("step")
            if isinstance(step, torch.Tensor) and step.device.type == "cpu":
                found.add(id(step))
    return found


def test_the_guard_catches_a_host_read():
    with pytest.raises(HostSync), no_host_sync(set()):
        float(torch.ones(()))


@pytest.mark.parametrize("runs", [1, 2], ids=["one-run", "pack"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_step_reads_nothing_back_to_the_host(method: str, runs: int):
    torch.set_num_threads(1)
    base = RunConfig(batch_size=8, epochs=1, num_threads=1, precision="fp32", **METHODS[method])
    split = synthetic_split(DATASETS.get(base.data), 32)
    stepper = Stepper([base.replace(seed=seed) for seed in range(runs)], split)
    stepper.run(1)  # the optimizers' state exists from the first step on
    before = [p.detach().clone() for p in stepper.pack.params]
    with no_host_sync(host_step_counters(stepper)):
        assert stepper.run(2) == 2 * 8 * runs
    assert any(not torch.equal(a, p) for a, p in zip(before, stepper.pack.params, strict=True))

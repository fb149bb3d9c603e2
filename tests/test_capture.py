"""rsmooth/engine/capture.py: a training step captured as a CUDA graph, what the CPU can check
of it (the static buffers, one capture per batch shape, the learning rates written into the
optimizers, the refusals), and on a CUDA device the real capture against the eager step."""

from __future__ import annotations

import pytest
import torch

from rsmooth.bench.catalogue import METHODS
from rsmooth.bench.harness import synthetic_split
from rsmooth.config import RunConfig
from rsmooth.data import DATASETS
from rsmooth.engine.capture import WARMUP_STEPS, CapturedStep, CudaGraphs, EagerGraphs
from rsmooth.engine.environment import Environment, select_environment
from rsmooth.engine.step import Pack, build_run, train_step
from rsmooth.errors import ConfigError
from rsmooth.methods import OPTIMIZERS, build_optimizer
from rsmooth.parts import resolve
from rsmooth.runfolder import recorded_engine
from tests.cli import invoke

CAPTURABLE = sorted(
    m for m, c in METHODS.items() if not OPTIMIZERS.get(c.get("optimizer", "sgd")).graph_refusal
)
REFUSED = sorted(n for n in OPTIMIZERS.names() if OPTIMIZERS.get(n).graph_refusal)


def graph_configs(method: str, runs: int, **fields) -> list[RunConfig]:
    base = RunConfig(
        batch_size=8, epochs=4, precision="fp32", cuda_graphs=True, **METHODS[method], **fields
    )
    return [resolve(base.replace(seed=seed)) for seed in range(runs)]


def build_pack(cfgs: list[RunConfig], env: Environment) -> Pack:
    spec = DATASETS.get(cfgs[0].data)
    return Pack([build_run(c, env, spec) for c in cfgs], env, spec.num_classes)


def state(pack: Pack) -> list[torch.Tensor]:
    return [*pack.model.parameters(), *pack.model.buffers()]


@pytest.mark.parametrize(
    "method,runs",
    [(m, 1) for m in CAPTURABLE] + [(m, 2) for m in ("sgd", "sam", "gr-db", "adamw", "agr")],
)
def test_a_captured_step_trains_as_the_eager_step(method, runs):
    # 12 images in batches of 8: two batch shapes (8 and the epoch's last 4), each warmed up
    # eagerly, then captured once and replayed; every step's lr and s_t differ, so a replay
    # that kept its capture's batch, lr or s_t would train differently from the eager pack.
    torch.set_num_threads(1)
    cpu = Environment(torch.device("cpu"), None, True)
    cfgs = graph_configs(method, runs)
    eager, captured = build_pack(cfgs, cpu), build_pack(cfgs, cpu)
    graphs = EagerGraphs()
    step = CapturedStep(captured, graphs)
    split = synthetic_split(DATASETS.get(cfgs[0].data), 12)
    batches = eager.batches([split] * runs, DATASETS.get(cfgs[0].data))
    eager.model.train()
    captured.model.train()
    i = 0
    for epoch in range(2 * (WARMUP_STEPS + 1)):
        for images, labels in batches.batches(epoch):
            lrs = [0.05 * (1 + 0.1 * i + r) for r in range(runs)]
            s_t = torch.full((runs,), 0.5 + 0.01 * i, dtype=torch.float64)
            want, _ = train_step(eager, images, labels, lrs, s_t)
            got, _ = step(images, labels, lrs, s_t)
            assert torch.equal(want, got), f"step {i}"
            i += 1
    assert graphs.captures == 2  # one per batch shape, then replays
    assert all(torch.equal(a, b) for a, b in zip(state(eager), state(captured), strict=True))
    for run, lr in zip(captured.runs, lrs, strict=True):  # each run's last lr, written in place
        assert run.optimizer.param_groups[0]["lr"].item() == pytest.approx(lr)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_the_optimizers_of_a_captured_step_are_the_eager_ones(optimizer):
    # cuda_graphs builds torch's fused kernels with a device learning rate; in float64 they
    # take the same steps as the default ones, as the lr changes from step to step.
    cfgs = [
        resolve(RunConfig(optimizer=optimizer, weight_decay=1e-3, cuda_graphs=graphs))
        for graphs in (False, True)
    ]
    g = torch.Generator().manual_seed(0)
    start = [
        torch.randn(4, 3, generator=g, dtype=torch.float64),
        torch.randn(5, generator=g, dtype=torch.float64),
    ]
    params = [[torch.nn.Parameter(t.clone()) for t in start] for _ in cfgs]
    optimizers = [build_optimizer(p, c) for p, c in zip(params, cfgs, strict=True)]
    assert isinstance(optimizers[1].param_groups[0]["lr"], torch.Tensor)
    for step in range(5):
        grads = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in start]
        for ps, opt in zip(params, optimizers, strict=True):
            lr = 0.1 / (1 + step)
            group = opt.param_groups[0]
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
            for p, grad in zip(ps, grads, strict=True):
                p.grad = grad.clone()
            opt.step()
    for a, b in zip(*params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_a_pack_without_device_learning_rates_is_not_captured():
    cfg = resolve(RunConfig(batch_size=8, precision="fp32"))
    cpu = Environment(torch.device("cpu"), None, True)
    with pytest.raises(ValueError, match="cuda_graphs"):
        CapturedStep(build_pack([cfg], cpu), EagerGraphs())


@pytest.mark.parametrize("optimizer", REFUSED)
def test_an_optimizer_with_host_state_is_refused_with_its_reason(optimizer):
    with pytest.raises(ConfigError, match=f"cuda_graphs.*false with optimizer {optimizer} \\("):
        resolve(RunConfig(optimizer=optimizer, cuda_graphs=True))


@pytest.mark.parametrize(
    "fields,reason",
    [({"device": "cpu"}, "a CUDA device only"), ({"compile": True}, "choose one")],
)
def test_what_cannot_be_captured_is_refused_before_any_work(fields, reason):
    with pytest.raises(ConfigError, match=reason):
        resolve(RunConfig(cuda_graphs=True, **fields))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a CUDA device")
def test_cuda_graphs_on_a_machine_without_cuda_is_one_line(tmp_path, capsys, fmnist):
    result = invoke(
        ["train", "--cuda-graphs", "--data-dir", fmnist, "--epochs", "1", "--out", tmp_path / "r"],
        capsys,
    )
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "cuda_graphs" in result.stderr and "CUDA device" in result.stderr
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="CUDA graphs need a CUDA device"):
        select_environment(RunConfig(cuda_graphs=True))


def test_captured_records_are_their_own_engine():
    base = {"device": "cuda", "device_name": "NVIDIA H100", "precision": "bf16"}
    graphs = recorded_engine({"environment": {**base, "cuda_graphs": True}})
    plain = recorded_engine({"environment": {**base, "cuda_graphs": False}})
    older = recorded_engine({"environment": base})  # written before the field: not known
    assert graphs is not None and plain is not None and older is not None
    assert graphs.label() == "NVIDIA H100 bf16, CUDA graphs"
    assert not graphs.matches(plain)
    assert graphs.matches(older) and plain.matches(older)
    cpu = recorded_engine(
        {"environment": {"device": "cpu", "precision": "fp32", "cuda_graphs": False}}
    )
    assert cpu is not None and cpu.cuda_graphs is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(
    "method", ["sgd", "sam", "gr-forward", "gr-db", "agr", "adamw", "logistic"]
)
def test_a_real_cuda_graph_trains_as_the_eager_step(method):
    # Deterministic kernels on both sides, a different lr and s_t every step: a replay that
    # froze either, or read a stale batch, would drift from the eager pack.
    cfgs = graph_configs(method, 2, device="cuda", deterministic=True)
    cuda = select_environment(cfgs[0])
    eager, captured = build_pack(cfgs, cuda), build_pack(cfgs, cuda)
    graphs = CudaGraphs(cuda.device)
    step = CapturedStep(captured, graphs)
    spec = DATASETS.get(cfgs[0].data)
    batches = eager.batches([synthetic_split(spec, 12)] * 2, spec)
    eager.model.train()
    captured.model.train()
    i = 0
    for epoch in range(2 * (WARMUP_STEPS + 1)):
        for images, labels in batches.batches(epoch):
            lrs = [0.05 * (1 + 0.1 * i), 0.1 * (1 - 0.02 * i)]
            s_t = torch.full((2,), 0.5 + 0.01 * i, dtype=torch.float64, device="cuda")
            want, _ = train_step(eager, images, labels, lrs, s_t)
            got, _ = step(images, labels, lrs, s_t)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=f"step {i}")
            i += 1
    assert len(step.graphs) == 2
    torch.cuda.synchronize()
    for a, b in zip(state(eager), state(captured), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.use_deterministic_algorithms(False)

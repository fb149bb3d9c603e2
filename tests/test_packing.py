"""Packed runs: K runs as one grouped model (rsmooth/models/packed.py, rsmooth/data/packed.py)
through the one engine (rsmooth/engine) give the K separate runs; who may share a pack
(rsmooth/engine/packing.py, derived from the fields' declarations, failing closed).

The parts are checked bit for bit against their one-run counterparts (the grouped model, the
batches; the objective in tests/test_losses.py); whole packs against the same runs trained
separately, in float64 on the CPU, epoch record by epoch record (every registered part:
tests/test_goldens.py). Tolerance: 1e-12 relative on every loss and accuracy (measured at most
5e-14, with SAM and B-GR; 2e-15 for plain SGD: grouped and plain convolutions sum in different
orders, and the two-pass rules amplify that).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from rsmooth.bench.harness import Stepper
from rsmooth.config import RunConfig
from rsmooth.data import DATASETS, DeviceBatches, load_splits
from rsmooth.data.packed import PackedBatches
from rsmooth.data.synthetic import write_synthetic
from rsmooth.engine import train_run, train_runs
from rsmooth.engine.packing import group_packs, packable
from rsmooth.models import MODELS, build_model
from rsmooth.models.packed import bindings, pack_model, run_views
from tests.fixtures import read_metrics
from tests.fixtures import tiny_config as tiny
from tests.goldens import float64 as float64_context

torch.set_num_threads(1)
RTOL = 1e-12
TIMING_KEYS = {"epoch_seconds", "images_per_second"}


@pytest.fixture
def float64():
    """Models in float64, and the engine's batches with them."""
    with float64_context():
        yield


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    return write_synthetic("cifar10", tmp_path_factory.mktemp("cifar"), 30, 16)


def assert_same_records(packed: Path, separate: Path) -> None:
    ours, theirs = read_metrics(packed), read_metrics(separate)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert set(a) == set(b)
        for key in set(a) - TIMING_KEYS:
            if b[key] is None or (isinstance(b[key], float) and math.isnan(b[key])):
                assert a[key] is None or math.isnan(a[key]), key  # strict JSON: NaN is null
            else:
                assert a[key] == pytest.approx(b[key], rel=RTOL, abs=1e-300), (key, a, b)


def train_both(cfgs: list[RunConfig], tmp_path: Path) -> tuple[list[dict], list[Path], list[Path]]:
    packed = [tmp_path / f"packed{i}" for i in range(len(cfgs))]
    separate = [tmp_path / f"separate{i}" for i in range(len(cfgs))]
    summaries = train_runs(cfgs, packed, quiet=True)
    for cfg, out in zip(cfgs, separate, strict=True):
        train_run(cfg, out, quiet=True)
    return summaries, packed, separate


# ---------------------------------------------------------------------- the parts, bitwise
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name, channels, size", [("resnet20", 1, 10), ("densenet-bc-100", 3, 8)])
def test_packed_model_is_the_runs_models(float64, name, channels, size, channels_last):
    layout = torch.channels_last if channels_last else torch.contiguous_format
    models = []
    for seed in (3, 1, 2):
        torch.manual_seed(seed)
        models.append(build_model(name, channels, 10).to(memory_format=layout))
    alone = copy.deepcopy(models)
    packed = pack_model(models)
    for model, reference in zip(models, alone, strict=True):  # packing moves, never changes
        for (key, t), r in zip(
            model.state_dict().items(), reference.state_dict().values(), strict=True
        ):
            assert torch.equal(t, r) and t.stride() == r.stride(), key
    images = [torch.randn(4, channels, size, size).contiguous(memory_format=layout) for _ in models]
    logits = packed(torch.cat(images, 1).contiguous(memory_format=layout))
    expected = [m(x) for m, x in zip(alone, images, strict=True)]
    assert torch.equal(logits, torch.stack(expected))
    logits.square().sum().backward()
    for e in expected:
        e.square().sum().backward()
    names = {id(p): (k, n) for k, m in enumerate(models) for n, p in m.named_parameters()}
    for binding in bindings(packed):
        views = run_views(binding.packed.grad, len(models), binding.stacked)
        for view, param in zip(views, binding.runs, strict=True):
            k, n = names[id(param)]
            wanted = alone[k].get_parameter(n).grad
            assert torch.allclose(view, wanted, rtol=1e-12, atol=1e-14 * wanted.abs().max())
    for model, reference in zip(models, alone, strict=True):  # running statistics, per run
        for (key, t), r in zip(
            model.state_dict().items(), reference.state_dict().values(), strict=True
        ):
            assert torch.equal(t, r), key


@pytest.mark.parametrize("data, subset", [("fashion-mnist", 1.0), ("cifar10", 0.8)])
def test_packed_batches_are_each_runs_own(tmp_path, data, subset):
    root = write_synthetic(data, tmp_path, 30, 8)
    cfgs = [RunConfig(data=data, data_dir=str(root), subset=subset, seed=s) for s in (5, 6, 7)]
    spec = DATASETS.get(data)
    splits = [load_splits(c)[1] for c in cfgs]
    if subset == 1:  # the engine's loader gives equal splits; the pack holds one
        splits = [splits[0]] * len(cfgs)
    cpu = torch.device("cpu")
    packed = PackedBatches(
        splits, [c.seed for c in cfgs], spec, cpu, 8, channels_last=True, dtype=torch.float32
    )
    singles = [DeviceBatches(split, spec, cpu, 8, train=True) for split in splits]
    for epoch in (0, 3):
        own_batches = [s.batches(epoch, c.seed) for s, c in zip(singles, cfgs, strict=True)]
        steps = zip(packed.batches(epoch), *own_batches, strict=True)
        for (images, labels), *own in steps:
            assert images.is_contiguous(memory_format=torch.channels_last)
            for k, (own_images, own_labels) in enumerate(own):
                channels = slice(k * spec.in_channels, (k + 1) * spec.in_channels)
                assert torch.equal(images[:, channels], own_images)
                assert torch.equal(labels[k], own_labels)


# ---------------------------------------------------------------------- whole packs vs train_run
def mixed_pack(data_dir: Path, step_rule: str, **shared) -> list[RunConfig]:
    """Different seeds and per-run hyperparameters of every kind, in one pack."""
    per_run = [
        {"seed": 1},
        {"seed": 2, "anneal": "logistic", "b": 0.3, "lr": 0.05, "momentum": 0.8, "rho": 0.1},
        {"seed": 3, "label_smoothing": 0.1, "grad_transform": "agr", "weight_decay": 1e-4},
        {"seed": 4, "loss": "ce", "flood": 0.1, "optimizer": "adam", "lr_schedule": "cosine"},
    ]
    per_run[1]["gr_gamma"] = 0.02
    per_run[2]["gr_normalize"] = True
    return [tiny(data_dir, step_rule=step_rule, **own, **shared) for own in per_run]


@pytest.mark.slow
# Every step rule packs with its separate runs in tests/test_goldens.py (a pack of two that
# differ in the rule's own hyperparameter); here mixed packs of four, each run with other parts.
@pytest.mark.parametrize("step_rule", ["plain", "sam", "gr-backward"])
def test_packed_runs_are_the_separate_runs(float64, fmnist, tmp_path, step_rule):
    cfgs = mixed_pack(fmnist, step_rule)
    summaries, packed, separate = train_both(cfgs, tmp_path)
    for summary, ours, theirs in zip(summaries, packed, separate, strict=True):
        assert_same_records(ours, theirs)
        assert summary["status"] == "completed"
        assert summary["packed_with"] == [str(p) for p in packed if p != ours]
        written = json.loads((ours / "summary.json").read_text())
        expected = json.loads((theirs / "summary.json").read_text())
        assert set(written) == set(expected) | {"packed_with"}
        assert {p.name for p in ours.iterdir()} == {p.name for p in theirs.iterdir()}
        a = torch.load(ours / "checkpoint.pt", weights_only=False)
        b = torch.load(theirs / "checkpoint.pt", weights_only=False)
        assert a.keys() == b.keys()
        assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        for key, tensor in b["model"].items():
            assert (
                a["model"][key].shape == tensor.shape
                and a["model"][key].stride() == tensor.stride()
            )
            assert torch.allclose(a["model"][key], tensor, rtol=1e-9, atol=1e-12), key
        assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
        assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
        # a run's checkpoint holds its own tensors, not the whole pack's storage
        assert (ours / "checkpoint.pt").stat().st_size < 1.1 * (
            theirs / "checkpoint.pt"
        ).stat().st_size


@pytest.mark.slow
def test_augmented_subsets_and_holdout_are_per_run(float64, cifar, tmp_path):
    subsets = [tiny(cifar, data="cifar10", seed=s, subset=0.8, lr=0.05 * s) for s in (1, 2, 3)]
    _, packed, separate = train_both(subsets, tmp_path / "subset")
    for ours, theirs in zip(packed, separate, strict=True):
        assert_same_records(ours, theirs)
    held = [
        tiny(cifar, data="cifar10", seed=4, holdout=0.2, anneal="laplace", b=b) for b in (0.2, 0.5)
    ]
    _, packed, separate = train_both(held, tmp_path / "holdout")
    for ours, theirs in zip(packed, separate, strict=True):
        assert_same_records(ours, theirs)
        assert "holdout_acc" in read_metrics(ours)[0]


@pytest.mark.slow
@pytest.mark.parametrize("others", [1, 2], ids=["one-goes-on-alone", "two-go-on-packed"])
def test_a_diverging_run_leaves_the_others_unharmed(float64, fmnist, tmp_path, others):
    cfgs = [
        tiny(fmnist, seed=1, epochs=3),
        tiny(fmnist, seed=2, epochs=3, loss="ce", lr=1e30, lr_drop_at=1.0),  # NaN in epoch 1
        tiny(fmnist, seed=3, epochs=3, anneal="logistic", step_rule="plain"),
    ][: others + 1]
    summaries, packed, separate = train_both(cfgs, tmp_path)
    assert [s["status"] for s in summaries] == ["completed", "diverged", "completed"][: others + 1]
    assert summaries[1]["error"] == json.loads((separate[1] / "summary.json").read_text())["error"]
    for ours, theirs in zip(packed, separate, strict=True):
        assert_same_records(ours, theirs)


@pytest.mark.slow
def test_kill_and_resume_gives_the_unbroken_results(float64, fmnist, tmp_path, monkeypatch):
    import rsmooth.engine.lifecycle as pack_train

    cfgs = [tiny(fmnist, seed=s, epochs=3, step_rule="sam", lr=0.1 / s) for s in (1, 2)]
    unbroken = [tmp_path / f"unbroken{i}" for i in range(2)]
    train_runs(cfgs, unbroken, quiet=True)

    # killed after run 0 wrote its epoch-2 checkpoint, before run 1 wrote its own
    save = pack_train.save_checkpoint

    def killed(folder, model, optimizer, progress):
        if progress.epoch == 2 and folder.path.name == "broken1":
            raise KeyboardInterrupt
        save(folder, model, optimizer, progress)

    monkeypatch.setattr(pack_train, "save_checkpoint", killed)
    broken = [tmp_path / f"broken{i}" for i in range(2)]
    with pytest.raises(KeyboardInterrupt):
        train_runs(cfgs, broken, quiet=True)
    assert [len(read_metrics(b)) for b in broken] == [2, 2]  # run 1's line 2 is past its checkpoint
    assert {json.loads((b / "summary.json").read_text())["status"] for b in broken} == {"running"}
    monkeypatch.setattr(pack_train, "save_checkpoint", save)
    summaries = train_runs(cfgs, broken, resume=True, quiet=True)
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    for ours, theirs in zip(broken, unbroken, strict=True):
        assert_same_records(ours, theirs)
    again = train_runs(cfgs, broken, resume=True, quiet=True)  # completed: left as it is
    assert again == summaries


@pytest.mark.slow
def test_each_run_of_a_stopped_pack_resumes_alone(float64, fmnist, tmp_path, monkeypatch):
    import rsmooth.engine.lifecycle as pack_train

    cfgs = [tiny(fmnist, seed=s, epochs=3, grad_transform="agr", anneal="laplace") for s in (1, 2)]
    save = pack_train.save_checkpoint

    def stop_after_epoch_1(folder, model, optimizer, progress):
        if progress.epoch == 2:
            raise KeyboardInterrupt
        save(folder, model, optimizer, progress)

    monkeypatch.setattr(pack_train, "save_checkpoint", stop_after_epoch_1)
    packed = [tmp_path / f"packed{i}" for i in range(2)]
    with pytest.raises(KeyboardInterrupt):
        train_runs(cfgs, packed, quiet=True)
    monkeypatch.setattr(pack_train, "save_checkpoint", save)
    for cfg, folder in zip(cfgs, packed, strict=True):
        assert train_run(None, folder, resume=True, quiet=True)["status"] == "completed"
        train_run(cfg, tmp_path / f"alone-{folder.name}", quiet=True)
        assert_same_records(folder, tmp_path / f"alone-{folder.name}")


# ---------------------------------------------------------------------- who may share a pack
def test_packable_says_why_not(fmnist):
    ok = [tiny(fmnist, seed=s, lr=0.1 * s, anneal="logistic" if s % 2 else None) for s in (1, 2, 3)]
    assert packable(ok) == (True, "")
    assert packable([tiny(fmnist)]) == (True, "")
    cases = [
        ([tiny(fmnist), tiny(fmnist, batch_size=16)], "batch_size"),
        ([tiny(fmnist), tiny(fmnist, model="resnet32")], "model"),
        ([tiny(fmnist), tiny(fmnist, epochs=3)], "epochs"),
        ([tiny(fmnist), tiny(fmnist, step_rule="sam")], "step_rule"),
        ([tiny(fmnist, holdout=0.2, seed=1), tiny(fmnist, holdout=0.2, seed=2)], "holdout"),
        ([tiny(fmnist, subset=0.5), tiny(fmnist)], "subset"),
        ([tiny(fmnist, lr=-1.0)], "lr"),
        ([], "no runs"),
    ]
    for cfgs, needle in cases:
        ok, reason = packable(cfgs)
        assert not ok and needle in reason and "\n" not in reason, (needle, reason)


@MODELS.register("test-mlp")
def mlp_without_packed_form(in_channels: int = 1, num_classes: int = 10) -> torch.nn.Module:
    """A model of the test's own, with no packed form registered."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))


def test_a_model_without_a_packed_form_trains_alone(fmnist):
    cfgs = [tiny(fmnist, model="test-mlp", seed=s) for s in (0, 1)]
    assert packable(cfgs[:1]) == (True, "")  # one run: a pack of one, whatever its parts
    ok, reason = packable(cfgs)
    assert not ok and "test-mlp has no packed form" in reason
    assert group_packs(cfgs, 4) == [[0], [1]]


def test_group_packs_keeps_order_and_size(fmnist):
    cfgs = [
        tiny(fmnist, seed=0),
        tiny(fmnist, seed=0, batch_size=16),
        tiny(fmnist, seed=1),
        tiny(fmnist, model="densenet-bc-100", data="fashion-mnist"),
        tiny(fmnist, seed=2),
        tiny(fmnist, seed=3, lr=0.01),
        tiny(fmnist, seed=4, holdout=0.2),
        tiny(fmnist, seed=5, holdout=0.2),
    ]
    assert group_packs(cfgs, 2) == [[0, 2], [1], [3], [4, 5], [6], [7]]
    assert group_packs(cfgs, 8) == [[0, 2, 4, 5], [1], [3], [6], [7]]
    for group in group_packs(cfgs, 3):
        assert packable([cfgs[i] for i in group])[0] or len(group) == 1


def test_the_bench_stepper_steps_every_run_of_a_pack(fmnist):
    cfgs = [tiny(fmnist, seed=s, step_rule="sam", anneal="logistic") for s in (1, 2)]
    stepper = Stepper(cfgs, load_splits(cfgs[0])[1])
    before = [p.detach().clone() for p in stepper.pack.params]
    assert stepper.run(4) == 4 * 8 * 2  # 4 steps (into a 2nd epoch) of 8 images, 2 runs
    assert all(not torch.equal(a, p) for a, p in zip(before, stepper.pack.params, strict=True))


# ---------------------------------------------------------------------- in a sweep
PACKED_RECIPE = """
name: packed
seeds: [0, 1]
base: {{data_dir: {data}, epochs: 2, batch_size: 8, eval_batch_size: 16, num_threads: 1}}
variants:
  - name: sgd
  - name: smooth
    anneal: logistic
"""


@pytest.mark.slow
def test_a_packed_sweep_writes_ordinary_run_folders(tmp_path, capsys):
    from rsmooth.report import build_report
    from tests.cli import invoke

    data = write_synthetic("fashion-mnist", tmp_path / "data", 24, 16)
    recipe = tmp_path / "packed.yaml"
    recipe.write_text(PACKED_RECIPE.format(data=data))
    result = invoke(["sweep", recipe, "--out", tmp_path / "out", "--pack", "2"], capsys)
    assert result.exit_code == 0, result.output
    assert "they run separately" in result.stdout  # the CPU falls back, with a note
    args = ["sweep", recipe, "--out", tmp_path / "packed", "--pack", "4", "--pack-on-cpu"]
    result = invoke(args, capsys)
    assert result.exit_code == 0, result.output
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "packed").rglob("summary.json")]
    assert len(summaries) == 4 and all(len(s["packed_with"]) == 3 for s in summaries)
    report = build_report([tmp_path / "packed"])
    assert sorted(c.n for c in report.configurations) == [2, 2]
    for run in (tmp_path / "packed").rglob("config.yaml"):  # the same results as unpacked
        name = run.parent.relative_to(tmp_path / "packed")
        ours = [json.loads(x) for x in (run.parent / "metrics.jsonl").read_text().splitlines()]
        alone = (tmp_path / "out" / name / "metrics.jsonl").read_text().splitlines()
        for a, b in zip(ours, map(json.loads, alone), strict=True):
            # fp32 grouped and plain convolutions round differently (float64: tests above)
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-2)

"""Adding a part touches one place: a data set, a step rule and a loss, each with a
hyperparameter of its own, are defined and registered here, in the test alone, and go through
train -> report: the two values of a new field are two configurations, and the label spells
them (docs/architecture.md, "Adding a part"). Packing fails closed: a new field that declares
how a pack carries it packs with the separate runs' results; one that declares nothing is
refused with the reason, never silently ignored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from rsmooth.config import ConfigField, PerRun, RunConfig
from rsmooth.data import DATASETS, DatasetSpec, Split
from rsmooth.data.synthetic import synthetic_splits, write_synthetic
from rsmooth.engine import train_run, train_runs
from rsmooth.engine.packing import packable
from rsmooth.methods.losses import LOSSES, mse, run_column
from rsmooth.methods.step_rules import STEP_RULES, StepRule, sharpness_aware_rule
from rsmooth.report import build_report, to_markdown
from tests.fixtures import read_metrics
from tests.fixtures import tiny_config as tiny
from tests.goldens import float64


# ----------------------------------------------------------------------------- a new data set
def _write(root: Path, num_train: int, num_test: int, seed: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (train_images, train_labels), (test_images, test_labels) = synthetic_splits(
        "tiny-squares", num_train, num_test, seed
    )
    np.savez(
        root / "tiny.npz", xtr=train_images, ytr=train_labels, xte=test_images, yte=test_labels
    )
    return root


def _load(root: Path, download: bool) -> tuple[Split, Split]:
    arrays = np.load(root / "tiny.npz")
    return (
        Split(torch.from_numpy(arrays["xtr"]), torch.from_numpy(arrays["ytr"])),
        Split(torch.from_numpy(arrays["xte"]), torch.from_numpy(arrays["yte"])),
    )


def _plain(root: Path, num: int, transform: Any) -> Any:
    train, _ = _load(_write(root, num, 4, 0), False)
    return torch.utils.data.TensorDataset(train.images.float() / 255, train.labels)


DATASETS.register("tiny-squares", title="Tiny squares")(
    DatasetSpec(
        name="tiny-squares",
        num_classes=4,
        in_channels=1,
        image_size=8,
        default_epochs=2,
        wd_baseline=1e-4,
        wd_smoothing=1e-4,
        augment=False,
        mean=(0.3,),
        std=(0.2,),
        default_dir="/nonexistent",
        load=_load,
        write_synthetic=_write,
        plain_dataset=_plain,
    )
)


# ----------------------------------------------------------------------------- a new step rule
# It reads its own field per run (each run of a pack its own value) and declares so.
SAM_SCALE = ConfigField(
    "sam_scale", float, 1.0, "multiplies rho", pack=PerRun("the step rule's per-run rho")
)


@STEP_RULES.register("scaled-sam", fields=("rho", SAM_SCALE), gradient_evaluations=2)
def scaled_sam(cfgs: Sequence[RunConfig]) -> StepRule:
    return sharpness_aware_rule([c.rho * c.get("sam_scale") for c in cfgs])


# The same rule with a field that declares no packing: runs that differ in it cannot share a
# pack (a pack cannot know how to carry it).
@STEP_RULES.register("sloppy-sam", fields=("rho", ConfigField("sloppy_scale", float, 1.0)))
def sloppy_sam(cfgs: Sequence[RunConfig]) -> StepRule:
    return sharpness_aware_rule([c.rho * c.get("sloppy_scale") for c in cfgs])


# ----------------------------------------------------------------------------- a new loss option
POWER = ConfigField("loss_power", float, 1.0, "mse ** power", pack=PerRun("the loss's column"))


@LOSSES.register("power-mse", fields=(POWER,))
def power_mse(cfgs: Sequence[RunConfig]) -> Callable[[Tensor, Tensor], Tensor]:
    """mse of each sample to a per-run power: (K, B, M) -> (K, B)."""
    powers = [c.get("loss_power") for c in cfgs]

    def loss(x: Tensor, y: Tensor) -> Tensor:
        return mse(x, y) ** run_column(powers, x)[..., 0]

    return loss


def test_new_data_set_and_step_rule_with_a_new_field_go_through_train_and_report(tmp_path):
    data = _write(tmp_path / "data", 48, 16, 0)
    base = RunConfig(
        data="tiny-squares",
        data_dir=str(data),
        step_rule="scaled-sam",
        batch_size=16,
        eval_batch_size=16,
        num_threads=1,
    )
    for scale in (1.0, 2.0):
        for seed in (0, 1):
            cfg = RunConfig.from_dict({**base.to_dict(), "sam_scale": scale, "seed": seed})
            assert cfg.get("sam_scale") == scale
            summary = train_run(
                cfg, tmp_path / "runs" / f"scale{scale}" / f"seed{seed}", quiet=True
            )
            assert summary["status"] == "completed"
    written = (tmp_path / "runs" / "scale2.0" / "seed0" / "config.yaml").read_text()
    assert "sam_scale: 2.0" in written  # the new field is a config.yaml key like any other

    report = build_report([tmp_path / "runs"])
    labels = sorted(c.label for c in report.configurations)
    assert labels == [
        "sgd + scaled-sam rho=0.05 sam_scale=1",
        "sgd + scaled-sam rho=0.05 sam_scale=2",
    ]
    assert all(c.n == 2 for c in report.configurations)  # seeds grouped, scales kept apart
    assert "scaled-sam" in to_markdown(report)


# ----------------------------------------------------------------------------- packing
def test_new_fields_that_declare_their_packing_pack_with_the_separate_results(tmp_path):
    data = write_synthetic("fashion-mnist", tmp_path / "data", 24, 16)
    for field, fixed in (
        ("sam_scale", {"step_rule": "scaled-sam"}),
        ("loss_power", {"loss": "power-mse"}),
    ):
        cfgs = [tiny(data, seed=0, **fixed), tiny(data, seed=1, **fixed, **{field: 2.0})]
        assert packable(cfgs) == (True, "")
        packed = [tmp_path / field / f"packed{i}" for i in range(2)]
        with float64():
            train_runs(cfgs, packed, quiet=True)
            for cfg, folder in zip(cfgs, packed, strict=True):
                alone = tmp_path / field / f"alone-{folder.name}"
                train_run(cfg, alone, quiet=True)
                for a, b in zip(
                    read_metrics(folder, timings=False),
                    read_metrics(alone, timings=False),
                    strict=True,
                ):
                    assert a.keys() == b.keys()
                    for key in a:
                        assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-300), key
        # the field made a difference: the two runs of the pack are not the same run
        assert read_metrics(packed[0], False) != read_metrics(packed[1], False)


def test_a_new_field_without_a_packing_declaration_is_refused_with_the_reason(tmp_path):
    data = write_synthetic("fashion-mnist", tmp_path / "data", 24, 16)
    same = [tiny(data, step_rule="sloppy-sam", seed=s) for s in (0, 1)]
    assert packable(same) == (True, "")  # equal values: nothing to carry per run
    differ = [same[0], tiny(data, step_rule="sloppy-sam", seed=1, sloppy_scale=2.0)]
    ok, reason = packable(differ)
    assert not ok
    assert "sloppy_scale" in reason and "declares no packing" in reason and "\n" not in reason

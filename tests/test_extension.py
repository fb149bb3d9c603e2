"""Adding a part touches one place: a data set and a step rule with a hyperparameter of its own
are defined and registered here, in the test alone, and go through train -> report: the two
values of the new field are two configurations, and the label spells them
(docs/architecture.md, "Adding a part")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rsmooth.config import ConfigField, RunConfig
from rsmooth.data import DATASETS, DatasetSpec, Split
from rsmooth.data.synthetic import synthetic_splits
from rsmooth.engine import train_run
from rsmooth.methods.step_rules import STEP_RULES, LossFn, StepRule, sharpness_aware
from rsmooth.report import build_report, to_markdown


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
@STEP_RULES.register(
    "scaled-sam", fields=("rho", ConfigField("sam_scale", float, 1.0, "multiplies rho"))
)
def scaled_sam(cfg: RunConfig) -> StepRule:
    inner = sharpness_aware(rho=cfg.rho * cfg.get("sam_scale"))

    def step(model: nn.Module, loss_fn: LossFn, images: Tensor, labels: Tensor):
        return inner(model, loss_fn, images, labels)

    return step


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

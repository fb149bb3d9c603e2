"""The measurement scripts under scripts/ that the docs quote (scripts/agr_strength.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from rsmooth.data.fashion_mnist import write_fashion_mnist
from rsmooth.methods.transforms import agr_
from tests.fixtures import config_dict

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))
from agr_strength import fractions  # noqa: E402


@pytest.mark.parametrize("shape", [(1,), (16,), (64, 32, 3, 3)])
def test_agr_strength_measures_the_fractions_agr_removes(shape):
    """alpha * g is exactly what AGR takes off the gradient; the alphas of a tensor sum to 1."""
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.zeros(shape))
    param.grad = torch.randn(shape, dtype=torch.float64).to(param.dtype)
    alpha = fractions(param.grad)
    before = param.grad.clone()
    agr_([param])
    torch.testing.assert_close(before - param.grad, alpha * before)
    assert float(alpha.sum()) == pytest.approx(1.0)
    assert float(fractions(torch.zeros(shape)).sum()) == 0.0  # AGR leaves a zero gradient


def test_agr_strength_reports_every_tensor_kind_of_a_run(tmp_path):
    data = write_fashion_mnist(tmp_path / "data", num_train=64, num_test=16)
    run = tmp_path / "run"
    run.mkdir()
    fields = {"model": "resnet20", "data": "fashion-mnist", "data_dir": str(data), "batch_size": 16}
    (run / "config.yaml").write_text(yaml.safe_dump(config_dict(**fields), sort_keys=False))
    script = [sys.executable, str(SCRIPTS / "agr_strength.py"), str(run), "--batches", "2"]
    refused = subprocess.run(script, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1  # mse: not the loss whose gradient AGR regularized here
    assert (
        refused.stderr.strip() == f"{run}: loss 'mse' (allowed here: 'ce', the AGR recipes' loss)"
    )
    config = config_dict(**fields, loss="ce")
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    too_many = subprocess.run([*script, "--batches", "9"], capture_output=True, text=True)
    assert too_many.stderr.strip() == "--batches 9 (allowed: 1 to 4)"  # 64 images, 16 a batch
    result = subprocess.run(script, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "initialization (seed 0), 2 batches of 16" in result.stdout
    assert "Conv2d weight (64x64x3x3)" in result.stdout and "BatchNorm2d bias (16)" in result.stdout
    relative = float(result.stdout.rsplit(":", 1)[1])
    assert 0 < relative < 1

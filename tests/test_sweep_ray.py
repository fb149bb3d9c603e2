"""`rsmooth sweep --executor ray` on a real local Ray instance, tiny synthetic data."""

from __future__ import annotations

import json

import pytest
import yaml

from rsmooth.data.fashion_mnist import write_fashion_mnist

pytest.importorskip("ray")


pytestmark = pytest.mark.slow  # starts a real Ray instance: minutes on 2 cores


def test_ray_sweep_trains_every_run_and_skips_them_on_rerun(tmp_path, capsys):
    import rsmooth.cli.sweep  # noqa: F401  (registers the command)
    from rsmooth.cli import main

    data_dir = write_fashion_mnist(tmp_path / "data", num_train=64, num_test=32)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "trials": 1,
                "base": {
                    "model": "resnet20",
                    "data_dir": str(data_dir),
                    "epochs": 2,
                    "batch_size": 32,
                    "eval_batch_size": 32,
                    "device": "cpu",
                },
                "variants": [
                    {"name": "sgd"},
                    {"name": "smooth", "anneal": "laplace", "b": 0.5},
                    {"name": "diverge", "lr": 1.0e6},
                ],
            }
        )
    )
    out_dir = tmp_path / "out"
    args = ["sweep", str(recipe), "--out", str(out_dir), "--executor", "ray", "--jobs", "2"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    text = " ".join("".join(capsys.readouterr()).split())
    assert exit_.value.code == 4, text
    for name in ("sgd/seed=0", "smooth/seed=0"):
        summary = json.loads((out_dir / name / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["epochs_completed"] == 2
        config = yaml.safe_load((out_dir / name / "config.yaml").read_text())
        assert config["num_threads"] >= 1
    assert json.loads((out_dir / "diverge/seed=0/summary.json").read_text())["status"] == "diverged"
    assert "2 completed now, 1 failed or diverged" in text and "diverge/seed=0" in text

    # Everything is final now: the rerun starts no Ray task (and no Ray instance).
    with pytest.raises(SystemExit) as exit_:
        main(args)
    text = " ".join("".join(capsys.readouterr()).split())
    assert exit_.value.code == 4
    assert "2 already done, 0 completed now, 1 failed or diverged" in text

"""`rsmooth export tensorboard`: a run folder's metrics and config, read back from the event
files with TensorBoard's own reader."""

from __future__ import annotations

import json
import sys

import pytest

from rsmooth.config import RunConfig
from rsmooth.data.synthetic import write_synthetic
from rsmooth.engine import train_run
from tests.cli import invoke

pytest.importorskip("tensorboard")


def read_back(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hparams = {
        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
        for k, v in start.hparams.items()
    }
    return scalars, hparams


def test_a_run_exports_every_numeric_metric_per_epoch_and_its_config(tmp_path, capsys):
    data = write_synthetic("fashion-mnist", tmp_path / "data", 64, 32)
    cfg = RunConfig(data_dir=str(data), epochs=2, batch_size=16, device="cpu", holdout=0.25)
    train_run(cfg, tmp_path / "runs" / "sgd" / "seed=0", quiet=True)
    lines = (tmp_path / "runs/sgd/seed=0/metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]

    for _ in range(2):  # a second export replaces the first
        result = invoke(
            ["export", "tensorboard", tmp_path / "runs", "--out", tmp_path / "tb"], capsys
        )
        assert result.exit_code == 0, result.output
        assert f"wrote 1 runs to {tmp_path / 'tb'}" in result.stdout
    folder = tmp_path / "tb" / "runs" / "sgd" / "seed=0"
    scalars, hparams = read_back(folder)

    keys = {k for r in records for k, v in r.items() if k != "epoch" and isinstance(v, float | int)}
    assert {"train_loss", "val_acc", "holdout_acc", "lr", "s_t"} <= keys
    for key in keys:
        expected = [(r["epoch"], r[key]) for r in records]
        assert scalars[key] == [(e, pytest.approx(v, rel=1e-6)) for e, v in expected], key
    assert scalars["final/max_val_acc"] == [(2, pytest.approx(max(r["val_acc"] for r in records)))]
    assert "final/max_holdout_acc" in scalars and "final/mean_val_acc" in scalars

    assert hparams["lr"] == pytest.approx(0.1) and hparams["model"] == "resnet20"
    assert hparams["status"] == "completed" and hparams["holdout"] == pytest.approx(0.25)
    assert "anneal" not in hparams  # unset (None): left out


def test_without_tensorboard_the_export_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    (tmp_path / "runs").mkdir()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    result = invoke(["export", "tensorboard", tmp_path / "runs", "--out", tmp_path / "tb"], capsys)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "rsmooth: error: rsmooth export tensorboard needs TensorBoard: "
        "pip install 'rsmooth[tensorboard]' (or pip install tensorboard)"
    )
    assert not (tmp_path / "tb").exists()

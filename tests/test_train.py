"""End-to-end `rsmooth train` on tiny data: the run folder, resume, divergence, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rsmooth.config import RunConfig
from rsmooth.data import DATASETS
from rsmooth.data.synthetic import write_synthetic
from rsmooth.parts import config_from_yaml, resolve
from tests.cli import invoke
from tests.fixtures import read_metrics

REPO = Path(__file__).resolve().parents[1]
METRIC_KEYS = {
    "epoch",
    "step",
    "lr",
    "s_t",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "epoch_seconds",
    "images_per_second",
}
TIMING_KEYS = {"epoch_seconds", "images_per_second"}


@pytest.fixture(scope="module")
def fmnist96(synthetic_data) -> Path:
    """96 training images: 3 steps of 32."""
    return synthetic_data("fashion-mnist", 96, 48)


def tiny_args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--eval-batch-size",
        "64",
        "--quiet",
        *extra,
    ]


def test_train_writes_the_run_folder(fmnist96, tmp_path, capsys):
    out = tmp_path / "run"
    started = time.perf_counter()
    result = invoke(tiny_args(fmnist96, out, "--anneal", "logistic", "--b", "0.3"), capsys)
    code, err = result.exit_code, result.stderr
    elapsed = time.perf_counter() - started
    assert code == 0, err
    total = json.loads((out / "summary.json").read_text())["total_seconds"]
    assert 0 < total <= elapsed  # the run's wall time, each second counted once
    assert {p.name for p in out.iterdir()} == {
        "config.yaml",
        "metrics.jsonl",
        "summary.json",
        "checkpoint.pt",
        "best.pt",
        ".lock",  # flock'ed by the process that trains the run (released at its exit)
    }
    best_weights = torch.load(out / "best.pt", weights_only=True)  # plain weights, no pickle
    best_epoch = json.loads((out / "summary.json").read_text())["max_val_acc_epoch"]
    final_weights = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    if best_epoch == 2:  # best.pt holds the best epoch's weights: here the last one's
        assert all(torch.equal(best_weights[k], final_weights[k]) for k in final_weights)
    assert set(best_weights) == set(final_weights)
    cfg = config_from_yaml(out / "config.yaml")
    assert cfg == resolve(cfg)  # the resolved config, verbatim
    assert (cfg.anneal, cfg.b, cfg.scheme, cfg.alpha, cfg.epochs) == (
        "logistic",
        0.3,
        "global+local",
        1.0,
        2,
    )
    metrics = read_metrics(out)
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert all(set(m) == METRIC_KEYS for m in metrics)
    assert metrics[-1]["step"] == 2 * 3  # 96 images / batch 32
    assert 0 < metrics[0]["s_t"] <= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["max_val_acc"] == max(m["val_acc"] for m in metrics)
    assert summary["mean_val_acc_last10"] == metrics[-1]["val_acc"]
    assert {"torch", "rsmooth", "device_name"} <= set(summary["environment"])


@pytest.mark.parametrize("data", DATASETS.names())
def test_every_dataset_trains(data, tmp_path):
    from rsmooth.engine import train_run

    root = write_synthetic(data, tmp_path / "data", 48, 24)
    cfg = RunConfig(data=data, data_dir=str(root), epochs=1, batch_size=16, eval_batch_size=24)
    summary = train_run(cfg, tmp_path / "run", quiet=True)
    assert summary["status"] == "completed"
    assert 0 <= summary["max_val_acc"] <= 100


def test_learns_on_learnable_data(tmp_path):
    from rsmooth.engine import train_run

    root = write_synthetic("fashion-mnist", tmp_path / "data", 256, 128)
    cfg = RunConfig(
        data_dir=str(root),
        epochs=4,
        batch_size=32,
        eval_batch_size=128,
        lr=0.01,  # lr 0.1 on 256 images swings the BatchNorm statistics too far to test
        lr_drop_at=1.0,
        loss="ce",
        num_threads=1,
    )
    summary = train_run(cfg, tmp_path / "run", quiet=True)
    assert summary["max_val_acc"] > 50.0  # 10 classes: chance is 10% (measured: 70-80%)


def test_config_file_and_flags(fmnist96, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"epochs": 1, "seed": 5, "optimizer": "adam"}))
    out = tmp_path / "run"
    result = invoke(tiny_args(fmnist96, out, "--config", str(config), "--seed", "7"), capsys)
    code, err = result.exit_code, result.stderr
    assert code == 0, err
    cfg = config_from_yaml(out / "config.yaml")
    # flags win over the file: tiny_args sets --epochs 2, --seed 7 overrides seed 5
    assert (cfg.epochs, cfg.seed, cfg.optimizer, cfg.lr) == (2, 7, "adam", 1e-3)


def test_existing_run_folder_is_never_overwritten(fmnist96, tmp_path, capsys):
    out = tmp_path / "run"
    assert invoke(tiny_args(fmnist96, out), capsys).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    result = invoke(tiny_args(fmnist96, out), capsys)
    code, err = result.exit_code, result.stderr
    assert code == 2
    assert "already exists" in err and "--resume" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # resuming a completed run is a no-op (but for the lock it takes while it looks)
    code = invoke(["train", "--resume", str(out), "--quiet"], capsys).exit_code
    assert code == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {k: v for k, v in after.items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }


@pytest.mark.slow
def test_kill_and_resume_matches_an_unbroken_run(fmnist96, tmp_path, capsys):
    # a fixed thread count: CPU float reductions differ (~1e-5) between thread counts
    args = ["--epochs", "4", "--anneal", "laplace", "--step-rule", "sam", "--num-threads", "1"]
    unbroken = tmp_path / "unbroken"
    assert invoke(tiny_args(fmnist96, unbroken, *args), capsys).exit_code == 0

    broken = tmp_path / "broken"
    cmd = [sys.executable, "-m", "rsmooth", *tiny_args(fmnist96, broken), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        metrics = broken / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((broken / "summary.json").read_text())["status"] == "running"
    done = len(read_metrics(broken))
    assert 1 <= done <= 4

    result = invoke(["train", "--resume", str(broken), "--quiet"], capsys)
    code, err = result.exit_code, result.stderr
    assert code == 0, err
    strip = lambda ms: [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in ms]  # noqa: E731
    assert strip(read_metrics(broken)) == strip(read_metrics(unbroken))
    assert json.loads((broken / "summary.json").read_text())["status"] == "completed"


def test_resume_drops_metrics_past_the_checkpoint(fmnist96, tmp_path, capsys, monkeypatch):
    from rsmooth.engine import lifecycle as trainer

    reference = tmp_path / "reference"
    assert invoke(tiny_args(fmnist96, reference), capsys).exit_code == 0
    # crash after epoch 2's metrics line was written but before its checkpoint was saved
    save = trainer.save_checkpoint

    def crash_at_epoch_2(folder, model, optimizer, progress):
        if progress.epoch == 2:
            raise KeyboardInterrupt
        save(folder, model, optimizer, progress)

    monkeypatch.setattr(trainer, "save_checkpoint", crash_at_epoch_2)
    out = tmp_path / "run"
    result = invoke(tiny_args(fmnist96, out), capsys)
    code, err = result.exit_code, result.stderr
    assert code == 130, err
    monkeypatch.setattr(trainer, "save_checkpoint", save)
    assert len(read_metrics(out)) == 2
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "step": 9, "lr": 0.0')  # and a half-written line
    result = invoke(["train", "--resume", str(out), "--quiet"], capsys)
    code, err = result.exit_code, result.stderr
    assert code == 0, err
    strip = lambda ms: [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in ms]  # noqa: E731
    assert strip(read_metrics(out)) == strip(read_metrics(reference))


def test_divergence_stops_with_its_own_status(fmnist96, tmp_path, capsys):
    out = tmp_path / "run"
    code = invoke(
        tiny_args(fmnist96, out, "--loss", "ce", "--lr", "1e30", "--lr-drop-at", "1.0"), capsys
    ).exit_code
    assert code == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert "non-finite" in summary["error"]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--model", "resnet21"], "resnet20"),
        (["--anneal", "gauss"], "laplace"),
        (["--epochs", "abc"], "--epochs"),
        (["--epochs", "0"], "epochs"),
        (["--bogus", "1"], "--bogus"),
        (["--subset", "2"], "subset"),
        (["--optimizer", "lion"], "adamw"),
        (["--step-rule", "sam", "--rho", "-1"], "rho"),
        (["--loss", "ce", "--anneal", "logistic"], "loss"),
        (["--data", "cifar10"], "cifar-10"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(fmnist96, tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    result = invoke(tiny_args(fmnist96, out, *extra), capsys)
    code, err = result.exit_code, result.stderr
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rsmooth: error:")
    assert needle.lower() in lines[0].lower()
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("damage", ["missing", "truncated", "bad-magic"])
def test_missing_or_corrupt_data_is_exit_2(tmp_path, capsys, damage):
    root = write_synthetic("fashion-mnist", tmp_path / "data", 32, 16)
    target = root / "train-images-idx3-ubyte.gz"
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:100])
    else:
        import gzip

        raw = bytearray(gzip.decompress(target.read_bytes()))
        raw[:4] = b"\x00\x00\x09\x09"
        target.write_bytes(gzip.compress(bytes(raw)))
    out = tmp_path / "run"
    result = invoke(tiny_args(root, out), capsys)
    code, err = result.exit_code, result.stderr
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_resume_of_a_non_run_folder_is_exit_2(tmp_path, capsys):
    result = invoke(["train", "--resume", str(tmp_path)], capsys)
    code, err = result.exit_code, result.stderr
    assert code == 2 and "config.yaml" in err


def test_help_is_fast_and_lists_the_commands():
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "import sys, rsmooth.cli; 'torch' in sys.modules and sys.exit(9)"],
        cwd=REPO,
        env={**os.environ},
        capture_output=True,
    )
    assert result.returncode == 0, "importing the CLI must not import torch"
    assert time.perf_counter() - start < 60  # generous: the point is the import check above

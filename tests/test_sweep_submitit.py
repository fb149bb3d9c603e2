"""`rsmooth sweep --executor submitit` through submitit's local executor (this machine has no
SLURM), tiny synthetic data; the requeue path of a job that reaches its time limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsmooth.config import RunConfig
from rsmooth.data.synthetic import write_synthetic
from rsmooth.engine import train_run
from tests.cli import invoke

submitit = pytest.importorskip("submitit")

REPO = Path(__file__).resolve().parents[1]


def tiny_recipe(tmp_path: Path) -> Path:
    data_dir = write_synthetic("fashion-mnist", tmp_path / "data", 64, 32)
    recipe = {
        "name": "tiny",
        "base": {
            "model": "resnet20",
            "data_dir": str(data_dir),
            "epochs": 1,
            "batch_size": 16,
            "eval_batch_size": 32,
        },
        "variants": [{"name": "sgd"}, {"name": "smooth", "anneal": "logistic", "b": 0.5}],
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def sweep(args: list, cwd: Path) -> subprocess.CompletedProcess:
    """``rsmooth sweep ARGS`` in a fresh interpreter: the jobs' configs hold only the fields of
    this checkout (this test process knows fields that other tests declared)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rsmooth", "sweep", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow  # two jobs through submitit's local executor: about half a minute
def test_submitit_sweep_trains_ordinary_run_folders_that_report_reads(tmp_path, capsys):
    out = tmp_path / "out"
    args = [tiny_recipe(tmp_path), "--out", out, "--executor", "submitit", "--device", "cpu"]
    result = sweep([*args, "--timeout-min", "10"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 completed now, 0 failed or diverged" in " ".join(result.stdout.split())
    for name in ("sgd/seed=0", "smooth/seed=0"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["epochs_completed"] == 1
        assert (out / name / "checkpoint.pt").is_file()
        assert yaml.safe_load((out / name / "config.yaml").read_text())["num_threads"] == 1
    assert any((out / "submitit").glob("*_log.out"))  # the jobs' logs, beside the runs

    report = invoke(["report", out], capsys)
    assert report.exit_code == 0, report.output
    assert "| sgd | 1 |" in report.stdout
    assert "| sgd + smoothing global+local logistic b=0.5 alpha=1 | 1 |" in report.stdout

    again = sweep(args, tmp_path)  # all done: nothing is submitted
    assert again.returncode == 0 and "2 already done, 0 completed now" in again.stdout


def test_a_timed_out_job_is_requeued_with_the_same_run_and_resumes_it(tmp_path):
    from rsmooth.sweep.submitit_exec import TrainJob

    write_synthetic("fashion-mnist", tmp_path / "data", 64, 32)
    cfg = RunConfig(data_dir=str(tmp_path / "data"), epochs=1, batch_size=16, device="cpu")
    run = tmp_path / "run"
    values, path = cfg.to_dict(), str(run)

    job = TrainJob()
    requeued = job.checkpoint(values, path)  # what submitit calls on timeout or preemption
    assert isinstance(requeued, submitit.helpers.DelayedSubmission)
    assert requeued.function is job and requeued.args == (values, path)
    assert requeued.kwargs == {}

    # The folder as a job killed after epoch 1 of 2 leaves it; the requeued call continues it.
    train_run(cfg, run, quiet=True)
    written = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**written, "epochs": 2}, sort_keys=False))
    first_epoch = (run / "metrics.jsonl").read_text()
    summary, _ = requeued.function(*requeued.args, **requeued.kwargs)
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert (run / "metrics.jsonl").read_text().startswith(first_epoch)  # not trained again


def test_submitit_needs_whole_gpus_and_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "out"
    args = ["sweep", recipe, "--out", out, "--executor", "submitit"]
    half = invoke([*args, "--gpus-per-run", "0.5"], capsys)
    assert half.exit_code == 2 and "allowed: a whole number of GPUs per job" in half.stderr
    assert not (out / "sgd").exists()

    monkeypatch.setitem(sys.modules, "submitit", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "rsmooth.sweep.submitit_exec", raising=False)
    missing = invoke(args, capsys)
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        "rsmooth: error: --executor submitit needs submitit: pip install 'rsmooth[submitit]' "
        "(or pip install submitit)"
    )

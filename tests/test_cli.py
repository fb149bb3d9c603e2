"""The command line as a hostile but realistic user meets it, one class of failure per test,
parametrized over the commands: every user error is one line with exit code 2 and writes
nothing; a failure after a run started is one line with exit code 4 and loses no finished
epoch; a stop is resumable; a damaged run never breaks a report."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rsmooth.data.synthetic import write_synthetic
from tests.cli import invoke
from tests.fixtures import flat_curve, write_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic("fashion-mnist", tmp_path_factory.mktemp("data"), 48, 24)


def tiny(data: Path, *extra: str) -> list[str]:
    return [
        "--data-dir", str(data), "--epochs", "2", "--batch-size", "16",
        "--eval-batch-size", "24", "--num-threads", "1", "--quiet", *extra,
    ]  # fmt: skip


def recipe(tmp_path: Path, data: Path, text: str = "") -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        text
        or f"name: r\nbase: {{data_dir: {data}, epochs: 1, batch_size: 16, num_threads: 1}}\n"
        "grid: {weight_decay: [0.001, 0.0001]}\n"
    )
    return path


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rsmooth: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ----------------------------------------------------------------------------- output paths
def _bad_paths(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("x")
    return {"file": str(tmp_path / "a-file"), "under-a-file": str(tmp_path / "a-file" / "sub")}


COMMANDS = {
    "train": lambda d, r, out: ["train", *tiny(d), "--out", out],
    "sweep": lambda d, r, out: ["sweep", str(r), "--out", out],
    "report": lambda d, r, out: ["report", str(r.parent / "runs"), "--out", out],
    "plot": lambda d, r, out: ["plot", "curves", str(r.parent / "runs"), "--out", out],
    "schedule": lambda d, r, out: ["plot", "schedule", "--out", out],
    "bench": lambda d, r, out: ["bench", "--json", out, "--steps", "1", "--rounds", "1"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["file", "under-a-file", "empty"])
def test_output_paths_are_checked_before_any_work(tmp_path, data, capsys, command, kind):
    if command == "bench" and kind == "file":
        pytest.skip("--json FILE may replace an existing file")
    write_run(tmp_path / "runs", "r", flat_curve(90.0, 3))
    path = "" if kind == "empty" else _bad_paths(tmp_path)[kind]
    args = COMMANDS[command](data, recipe(tmp_path, data), path)
    before = sorted(p.name for p in tmp_path.iterdir())
    line = one_line_error(invoke(args, capsys))
    assert ("--out" in line) or ("--json" in line)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert not Path("report.md").exists()  # `--out ''` never means the current folder


# ----------------------------------------------------------------------------- input files
@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: r\ngrid: {b: [0.1]}\ngrid: {b: [0.2]}\n", "duplicate key 'grid' (first at line 2)"),
        (b"name: r\n\xff\xfe\n", "UTF-8"),
        ("name: r\ntrials: 10000000\n", "trials: 10000000 (allowed: an integer in [1, 1000])"),
        ("name: r\nbase: {weight_decay: .inf}\n", "weight_decay"),
    ],
)
def test_recipes_are_read_strictly(tmp_path, data, capsys, text, needle):
    path = tmp_path / "r.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = one_line_error(invoke(["sweep", str(path), "--dry-run"], capsys))
    assert needle in line and "r.yaml" in line


def test_a_config_with_a_duplicate_key_names_its_line(tmp_path, data, capsys):
    (tmp_path / "c.yaml").write_text("epochs: 1\nseed: 1\nseed: 2\n")
    line = one_line_error(invoke(["train", *tiny(data), "--config", tmp_path / "c.yaml"], capsys))
    assert "duplicate key 'seed' (first at line 2) at line 3" in line


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--weight-decay", "inf"], "invalid weight_decay: inf"),
        (["--flood", "inf"], "invalid flood: inf"),
        (["--gr-gamma", "inf"], "invalid gr_gamma: inf"),
        (["--anneal", "laplace", "--alpha", "inf"], "invalid alpha: inf"),
        (["--seed", "-1"], "invalid seed: -1"),
        (["--seed", str(2**64)], f"invalid seed: {2**64}"),
        (["--lr", "nan"], "invalid lr: nan"),
        (["--holdout", "1"], "invalid holdout: 1.0"),
    ],
)
def test_values_must_be_finite_and_in_range(tmp_path, data, capsys, extra, needle):
    out = tmp_path / "run"
    line = one_line_error(invoke(["train", *tiny(data), "--out", out, *extra], capsys))
    assert needle in line and not out.exists()


def test_a_huge_trial_count_fails_fast(tmp_path, data, capsys):
    started = time.perf_counter()
    line = one_line_error(
        invoke(["sweep", recipe(tmp_path, data), "--trials", "10000000", "--dry-run"], capsys)
    )
    assert "--trials 10000000" in line and time.perf_counter() - started < 10


# ----------------------------------------------------------------------------- messages
@pytest.mark.parametrize(
    ("args", "needle", "absent"),
    [
        (["--set", "weight_decy=0.1"], "did you mean 'weight_decay'?", "--set: --set"),
        (["--set", "epochs=x"], "--set epochs: 'x' (allowed: an integer)", "--set: --set"),
    ],
)
def test_sweep_messages_read_well(tmp_path, data, capsys, args, needle, absent):
    line = one_line_error(invoke(["sweep", recipe(tmp_path, data), "--dry-run", *args], capsys))
    assert needle in line and absent not in line


def test_unknown_config_keys_get_a_suggestion(tmp_path, data, capsys):
    (tmp_path / "c.yaml").write_text("learning_rate: 0.1\nweight_decy: 0.01\n")
    line = one_line_error(invoke(["train", *tiny(data), "--config", tmp_path / "c.yaml"], capsys))
    assert "learning_rate" in line or "weight_decy" in line


def test_two_identical_runs_of_an_unnamed_variant_say_what_is_missing(tmp_path, data, capsys):
    text = f"name: r\nbase: {{data_dir: {data}}}\nvariants:\n  - name: a\n  - name: a\n    b: 0.3\n"
    line = one_line_error(invoke(["sweep", recipe(tmp_path, data, text), "--dry-run"], capsys))
    assert "None" not in line and "same run folder" in line


# ----------------------------------------------------------------------------- sweeps up front
def test_a_sweep_with_missing_data_fails_once_before_any_run(tmp_path, capsys):
    missing = tmp_path / "no-data"
    path = recipe(tmp_path, missing)
    line = one_line_error(invoke(["sweep", path, "--out", tmp_path / "out"], capsys))
    assert "Fashion-MNIST not found" in line and not (tmp_path / "out").exists()


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="a CUDA device is available here"
)
def test_a_sweep_on_cuda_without_a_device_fails_before_any_run(tmp_path, data, capsys):
    path = recipe(tmp_path, data)
    args = ["sweep", path, "--out", tmp_path / "out", "--device", "cuda"]
    line = one_line_error(invoke(args, capsys))
    assert "no CUDA device" in line and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- after the start
def test_a_full_disk_mid_run_is_exit_4_one_line_and_resumable(tmp_path, data, capsys, monkeypatch):
    from rsmooth.engine import lifecycle as trainer

    save = trainer.save_checkpoint
    out = tmp_path / "run"

    def disk_full_at_epoch_2(folder, model, optimizer, progress):
        if progress.epoch == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        save(folder, model, optimizer, progress)

    monkeypatch.setattr(trainer, "save_checkpoint", disk_full_at_epoch_2)
    line = one_line_error(invoke(["train", *tiny(data), "--out", out], capsys), code=4)
    assert "failed in epoch 2 (OSError: [Errno 28] No space left on device)" in line
    assert "the checkpoint of epoch 1 is intact" in line and f"--resume {out}" in line
    monkeypatch.setattr(trainer, "save_checkpoint", save)
    result = invoke(["train", "--resume", out], capsys)
    assert result.exit_code == 0, result.output
    epochs = [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_a_run_folder_removed_mid_run_is_exit_4_one_line(tmp_path, data, capsys, monkeypatch):
    from rsmooth.engine import lifecycle as trainer

    save = trainer.save_checkpoint
    out = tmp_path / "run"

    def removed_at_epoch_2(folder, model, optimizer, progress):
        if progress.epoch == 2:
            shutil.rmtree(out)  # a cleanup script, a user's rm -r
        save(folder, model, optimizer, progress)

    monkeypatch.setattr(trainer, "save_checkpoint", removed_at_epoch_2)
    line = one_line_error(invoke(["train", *tiny(data), "--out", out], capsys), code=4)
    assert "failed in epoch 2 (FileNotFoundError" in line
    assert f"{out} is gone: nothing of it survives" in line and "intact" not in line


def test_resume_of_a_folder_it_cannot_write_is_one_line(tmp_path, data, capsys):
    # A read-only folder (a mounted results tree, another user's run): the lock cannot be
    # taken. As root every folder is writable, so the lock file's place is taken instead.
    out = tmp_path / "run"
    assert invoke(["train", *tiny(data), "--out", out], capsys).exit_code == 0
    (out / ".lock").unlink()
    (out / ".lock").mkdir()
    line = one_line_error(invoke(["train", "--resume", out], capsys))
    assert f"cannot train in run folder {out}" in line and "a folder this user can write" in line


def test_resume_of_a_folder_another_process_trains_is_refused(tmp_path, data, capsys):
    out = tmp_path / "run"
    assert invoke(["train", *tiny(data), "--out", out], capsys).exit_code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        line = one_line_error(invoke(["train", "--resume", out], capsys))
        assert "being trained by another process" in line
    finally:
        holder.kill()
        holder.communicate()  # reaps it and closes its pipe


HOLD = """
import sys, time
from rsmooth.runfolder import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_resume_removes_the_litter_of_a_kill(tmp_path, data, capsys):
    out = tmp_path / "run"
    assert invoke(["train", *tiny(data), "--out", out, "--epochs", "3"], capsys).exit_code == 0
    (out / ".checkpoint.pt.k1ll.tmp").write_bytes(b"half a checkpoint")
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps(dict(summary, status="running")))
    assert invoke(["train", "--resume", out], capsys).exit_code == 0
    assert not list(out.glob(".*.tmp"))


# ----------------------------------------------------------------------------- damaged runs
def test_one_damaged_run_never_breaks_report_or_plot(tmp_path, capsys):
    for seed in (0, 1):
        write_run(tmp_path, f"good/seed{seed}", flat_curve(90.0 + seed, 4), seed=seed)
    bad = write_run(tmp_path, "bad", flat_curve(90.0, 4), seed=7)
    (bad / "config.yaml").write_bytes(b"\xff\xfe not utf-8")
    odd = write_run(tmp_path, "odd", flat_curve(90.0, 4), seed=8)
    lines = (odd / "metrics.jsonl").read_text().splitlines()
    lines[1] = '{"epoch": 2, "val_acc": "ninety"}'
    (odd / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    report = invoke(["report", tmp_path, "--out", tmp_path / "r"], capsys)
    assert report.exit_code == 0, report.output
    assert "| bad | unreadable |" in report.stdout and "| odd | unreadable |" in report.stdout
    plot = invoke(["plot", "curves", tmp_path, "--out", tmp_path / "f"], capsys)
    assert plot.exit_code == 0, plot.output


# ----------------------------------------------------------------------------- signals
INTERRUPTED = "rsmooth: error: interrupted (resumable: run the same command again)"


@contextmanager
def sigterm_when(ready: Callable[[], bool]) -> Iterator[None]:
    """SIGTERM to this process as soon as ``ready()`` (polled from a thread), as a job
    scheduler or a user's `kill` would send it while a command runs."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if ready():
                os.kill(os.getpid(), signal.SIGTERM)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def test_an_interrupted_train_says_how_to_resume(tmp_path, data, capsys, stop_handlers):
    out = tmp_path / "run"
    with sigterm_when((out / "checkpoint.pt").exists):  # one epoch done and saved
        result = invoke(["train", *tiny(data), "--epochs", "500", "--out", out], capsys)
    line = one_line_error(result, code=130)
    assert line == f"rsmooth: error: interrupted (resumable: rsmooth train --resume {out})"
    assert json.loads((out / "summary.json").read_text())["status"] == "running"


def test_an_interrupted_sweep_says_so_in_one_line(
    tmp_path, data, capsys, monkeypatch, stop_handlers
):
    from rsmooth.sweep import runner

    def stopped_while_running(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(runner, "run_recipe", stopped_while_running)
    args = ["sweep", recipe(tmp_path, data), "--out", tmp_path / "out"]
    assert one_line_error(invoke(args, capsys), code=130) == INTERRUPTED


def test_a_stop_that_reaches_typer_is_still_one_line(capsys, stop_handlers):
    """Typer turns a KeyboardInterrupt that leaves a command into a returned 130; `main` must
    still say what happened and how to go on, whatever the command."""
    from rsmooth.cli.app import app

    @app.command("stop-now", hidden=True)
    def stop_now() -> None:
        raise KeyboardInterrupt

    try:
        assert one_line_error(invoke(["stop-now"], capsys), code=130) == INTERRUPTED
    finally:
        app.registered_commands.pop()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stopping_a_background_sweep_stops_its_runs(tmp_path, data, stop):
    path = recipe(
        tmp_path,
        data,
        f"name: r\nbase: {{data_dir: {data}, epochs: 200, batch_size: 16, num_threads: 1}}\n"
        "grid: {weight_decay: [0.001, 0.0001]}\n",
    )
    # A shell starts a background job with SIGINT ignored; the sweep must still obey it.
    sweep = subprocess.Popen(
        [sys.executable, "-m", "rsmooth", "sweep", str(path), "--out", str(tmp_path / "out")],
        cwd=REPO,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = tmp_path / "out" / "weight_decay=0.001" / "seed=0" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not metrics.with_name("checkpoint.pt").exists():  # one epoch is done and saved
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    sent = time.monotonic()
    sweep.send_signal(stop)
    _, stderr = sweep.communicate(timeout=30)
    assert sweep.returncode == 130
    assert time.monotonic() - sent < 15
    assert stderr.strip().splitlines()[-1] == INTERRUPTED
    assert not (tmp_path / "out" / "logs").exists()  # the stopped runs' logs said nothing
    children = subprocess.run(["pgrep", "-f", str(tmp_path / "out")], capture_output=True)
    assert children.stdout.strip() == b""  # no run left training
    summary = json.loads(metrics.with_name("summary.json").read_text())
    assert summary["status"] == "running"  # resumable
    assert os.path.exists(metrics.with_name("checkpoint.pt"))

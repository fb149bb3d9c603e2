"""`rsmooth sweep` end to end with the local executor, on tiny synthetic Fashion-MNIST.

One sweep (two runs at once) is shared by most tests: it holds two good runs, one that
diverges and one that fails, so skipping, listing problems, the dry run and the folder guard
are all checked against real run folders. The kill test compares an interrupted-then-resumed
sweep with that unbroken one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rsmooth.data.fashion_mnist import write_fashion_mnist
from rsmooth.report import build_report, to_markdown
from rsmooth.runfolder import is_locked, read_plans
from tests.cli import invoke

EPOCHS = 4
GOOD = ["sgd/seed=0", "smooth/seed=0"]
# The sweep command in a fresh interpreter (importing the module registers the command).
SWEEP = [sys.executable, "-c", "import rsmooth.cli.sweep; from rsmooth.cli import main; main()"]
SWEEP += ["sweep"]
SAME_RESULT = ("epoch", "step", "lr", "s_t", "train_loss", "train_acc", "val_loss", "val_acc")


def write_recipe(path: Path, data_dir: Path, with_bad_runs: bool) -> Path:
    variants = [{"name": "sgd"}, {"name": "smooth", "anneal": "logistic", "b": 0.5}]
    if with_bad_runs:
        variants += [
            {"name": "diverge", "lr": 1.0e6},
            # The files are there (the sweep checks them up front), but a subset of 0.001 of
            # 64 images is empty: a data error inside the run, after the sweep started it.
            {"name": "broken", "subset": 0.001},
        ]
    recipe = {
        "name": "tiny",
        "description": "test sweep",
        "base": {
            "model": "resnet20",
            "data": "fashion-mnist",
            "data_dir": str(data_dir),
            "epochs": EPOCHS,
            "batch_size": 32,
            "eval_batch_size": 32,
            "device": "cpu",
            "num_threads": 1,  # the same float arithmetic whatever --jobs is
        },
        "variants": variants,
    }
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def metrics(path: Path) -> list[dict]:
    lines = (path / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in SAME_RESULT} for line in lines]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    data_dir = write_fashion_mnist(root / "data", num_train=64, num_test=32)
    recipe = write_recipe(root / "tiny.yaml", data_dir, with_bad_runs=True)
    out_dir = root / "out"
    result = subprocess.run(
        [*SWEEP, str(recipe), "--out", str(out_dir), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {"root": root, "data": data_dir, "recipe": recipe, "out": out_dir, "result": result}


@pytest.mark.slow  # shares the real sweep of the `swept` fixture
def test_sweep_completes_good_runs_and_lists_the_bad_ones(swept):
    result, out_dir = swept["result"], swept["out"]
    assert result.returncode == 4, result.stderr
    for name in GOOD:
        assert summary(out_dir / name)["status"] == "completed"
        assert [m["epoch"] for m in metrics(out_dir / name)] == list(range(1, EPOCHS + 1))
        config = yaml.safe_load((out_dir / name / "config.yaml").read_text())
        assert config["num_threads"] == 1 and config["seed"] == 0
    assert summary(out_dir / "diverge/seed=0")["status"] == "diverged"
    assert not (out_dir / "broken/seed=0/metrics.jsonl").exists()  # failed before epoch 1
    listed = " ".join((result.stdout + result.stderr).split())
    assert "diverge/seed=0 │ diverged" in listed
    assert "broken/seed=0 │ failed" in listed and "is empty" in listed
    assert "2 completed now, 2 failed or diverged" in listed
    assert (out_dir / "logs" / "broken__seed=0.log").read_text().strip()
    # the grid's plan, recorded before any run: a report tells this grid is not finished
    (plan,) = read_plans([out_dir])
    assert plan.recipe == "tiny" and plan.folder == out_dir
    assert plan.runs == tuple((f"{v}/seed=0", v) for v in ("sgd", "smooth", "diverge", "broken"))
    report = " ".join(to_markdown(build_report([out_dir])).split())
    assert "**The grid is unfinished**: 3 of the 4 grid runs that the sweep tiny planned" in report
    assert "sgd 1 of 1, smooth 1 of 1, diverge 1 of 1, broken 0 of 1" in report


@pytest.mark.slow  # shares the real sweep of the `swept` fixture
def test_rerun_skips_finished_runs_and_retries_the_failed_one(swept, capsys):
    out_dir = swept["out"]
    finished = [*GOOD, "diverge/seed=0"]
    before = {name: (out_dir / name / "summary.json").stat().st_mtime_ns for name in finished}
    result = invoke(["sweep", str(swept["recipe"]), "--out", str(out_dir)], capsys)
    code, text = result.exit_code, result.words
    assert code == 4
    assert "2 already done, 0 completed now, 2 failed or diverged" in text
    assert "[1/1] failed: broken/seed=0" in text  # the only run started again
    after = {name: (out_dir / name / "summary.json").stat().st_mtime_ns for name in finished}
    assert after == before


@pytest.mark.slow  # shares the real sweep of the `swept` fixture
def test_a_sweep_says_when_it_replaces_a_different_plan(swept, tmp_path, capsys):
    out_dir = tmp_path / "out"
    shutil.copytree(swept["out"], out_dir)
    plan = out_dir / "plans" / "tiny.json"
    plan.write_text('{"recipe": "tiny", "grid": [{"run": "sgd/seed=0", "variant": "sgd"}]}\n')
    result = invoke(["sweep", str(swept["recipe"]), "--out", str(out_dir)], capsys)
    assert f"{plan}: its plan of 1 grid runs is replaced by this sweep's 4" in result.words
    assert len(read_plans([out_dir])[0].runs) == 4


@pytest.mark.slow  # shares the real sweep of the `swept` fixture
def test_dry_run_lists_status_and_a_measured_cost(swept, capsys):
    args = [str(swept["recipe"]), "--out", str(swept["out"]), "--dry-run", "--trials", "2"]
    result = invoke(["sweep", *args], capsys)
    code, text = result.exit_code, result.words
    assert code == 0
    assert "sgd/seed=0 │ completed │ 4/4" in text
    assert "diverge/seed=0 │ diverged │ 1/4" in text
    assert "sgd/seed=1 │ todo │ 0/4" in text
    # Left: the 4 seed-1 runs and the failed seed-0 run; those with a completed twin of the
    # same model, data, subset and device in the out dir have their seconds measured
    assert "cost: 5 runs to run, 20 epochs; about" in text and "with a measured speed" in text
    assert not (swept["out"] / "sgd/seed=1").exists()


@pytest.mark.slow  # shares the real sweep of the `swept` fixture
def test_a_folder_of_another_experiment_is_refused(swept, capsys):
    args = [str(swept["recipe"]), "--out", str(swept["out"]), "--set", "epochs=3"]
    result = invoke(["sweep", *args], capsys)
    code, text = result.exit_code, result.words
    assert code == 2
    assert "holds a different experiment (epochs: 4 there, 3 planned)" in text


def _children_of(out_dir: Path) -> list[int]:
    """Processes (the sweep's training runs) whose command line names ``out_dir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(out_dir) in (proc / "cmdline").read_text():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and SIGKILL")
def test_killed_sweep_resumes_to_the_unbroken_result(swept, tmp_path, capsys):
    recipe = write_recipe(tmp_path / "tiny.yaml", swept["data"], with_bad_runs=False)
    out_dir = tmp_path / "out"
    first, second = (out_dir / name for name in GOOD)
    sweep = subprocess.Popen(
        [*SWEEP, str(recipe), "--out", str(out_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill the sweep outright while its second run is part way: first done, second checkpointed.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if (second / "metrics.jsonl").exists() and (second / "summary.json").exists():
            if summary(second)["status"] == "running" and 1 <= len(metrics(second)) < EPOCHS:
                break
        assert sweep.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.02)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    # Its training child dies with it (parent-death signal), before anything else touches it.
    deadline = time.monotonic() + 60
    while _children_of(out_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children_of(out_dir)
    while is_locked(second) and time.monotonic() < deadline:  # the kernel frees it at exit
        time.sleep(0.1)
    assert not is_locked(second), "the killed child's lock outlived it"
    assert summary(first)["status"] == "completed"
    assert summary(second)["status"] == "running"
    first_mtime = (first / "summary.json").stat().st_mtime_ns

    result = invoke(["sweep", str(recipe), "--out", str(out_dir)], capsys)
    code, text = result.exit_code, result.words
    assert code == 0, text
    assert "1 already done, 1 completed now, 0 failed or diverged" in text
    assert (first / "summary.json").stat().st_mtime_ns == first_mtime  # not run twice
    assert not (out_dir / "logs").exists()  # the killed run's log said nothing: not kept
    for name in GOOD:
        assert summary(out_dir / name)["status"] == "completed"
        assert metrics(out_dir / name) == metrics(swept["out"] / name)


def test_progress_estimates_time_left_from_completed_runs():
    import io

    from rich.console import Console

    from rsmooth.config import RunConfig
    from rsmooth.sweep.jobs import Job, Outcome
    from rsmooth.sweep.progress import SweepProgress

    jobs = [Job(f"run{i}", Path(f"run{i}"), RunConfig()) for i in range(5)]
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with SweepProgress(total=5, parallel=2, console=console) as progress:
        progress.started(jobs[0])
        progress.started(jobs[1])
        assert progress.eta_seconds() is None  # nothing measured yet
        progress.finished(Outcome(jobs[0], "completed", 100.0))
        progress.finished(Outcome(jobs[1], "failed", 5.0, "boom"))  # failures do not count
        progress.started(jobs[2])
        # 2 runs not started and 1 just started, 100 s each, 2 at once: about 150 s.
        assert 149.0 <= progress.eta_seconds() <= 150.0
        assert "done 1, running 1, failed 1" in progress.status_text()
    assert "done 1, running 1, failed 1" in screen.getvalue()


@pytest.mark.slow
def test_two_sweeps_on_one_folder_share_the_work(swept, tmp_path):
    recipe = write_recipe(tmp_path / "tiny.yaml", swept["data"], with_bad_runs=False)
    out_dir = tmp_path / "out"
    args = [*SWEEP, str(recipe), "--out", str(out_dir), "--trials", "3"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    runs = sorted(out_dir.rglob("metrics.jsonl"))
    assert len(runs) == 6
    for path in runs:  # every epoch trained once: no run was trained by both sweeps
        assert [json.loads(x)["epoch"] for x in path.read_text().splitlines()] == [1, 2, 3, 4]
    text = " ".join(" ".join(outputs).split())
    assert "left to another process" in text  # they met, and shared


def test_a_stop_while_a_run_starts_stops_that_run_too(tmp_path, monkeypatch, stop_handlers):
    """A SIGTERM landing between starting a child and recording it left a child that no one
    stopped, holding its run's lock: a resumed sweep then skipped that run as held elsewhere."""
    from rsmooth.config import RunConfig
    from rsmooth.sweep import local
    from rsmooth.sweep.jobs import Job

    children: list[subprocess.Popen[bytes]] = []

    def spawn_then_stop(command, env, log, fds):
        children.append(subprocess.Popen(["sleep", "60"], pass_fds=tuple(fds)))
        os.kill(os.getpid(), signal.SIGTERM)  # the sweep is stopped right after the fork
        for _ in range(1000):
            pass
        return children[-1]

    class Quiet:
        def started(self, job):
            pass

        def finished(self, outcome):
            pass

    monkeypatch.setattr(local, "_spawn", spawn_then_stop)
    job = Job("run0", tmp_path / "run0", RunConfig(epochs=1))
    with pytest.raises(KeyboardInterrupt):
        local.run_local([[job]], tmp_path, 1, Quiet())
    assert children and children[0].poll() is not None  # stopped, not orphaned
    assert not is_locked(job.path)  # a resumed sweep can take the run


def test_a_sweep_removes_the_temporary_configs_of_older_sweeps(tmp_path):
    from rsmooth.sweep.local import run_local

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / ".abc123.config.yaml").write_text("epochs: 1\n")  # left by a SIGKILL'ed old sweep
    (logs / "sgd__seed=0.log").write_text("a run's log\n")
    assert run_local([], tmp_path, 1, listener=None) == []  # type: ignore[arg-type]
    assert [p.name for p in logs.iterdir()] == ["sgd__seed=0.log"]


# A child that says nothing, one that says only that it was stopped (as `rsmooth train` does on
# SIGTERM), and one that says something a person should read; each touches its ready file once
# its SIGTERM handling is in place.
FAKE_CHILDREN = {
    "quiet": "import pathlib, sys, time\npathlib.Path(sys.argv[1]).touch()\ntime.sleep(60)\n",
    "stopping": (
        "import pathlib, signal, sys, time\n"
        "def stop(*_):\n"
        "    print('rsmooth: error: interrupted (resumable: rsmooth train --resume x)')\n"
        "    sys.exit(130)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        "time.sleep(60)\n"
    ),
    "talking": (
        "import pathlib, sys, time\n"
        "print('UserWarning: a person should read this', flush=True)\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        "time.sleep(60)\n"
    ),
}


def test_a_stopped_sweep_keeps_only_the_logs_that_say_something(
    tmp_path, monkeypatch, stop_handlers
):
    """The sweep creates a run's log before its child has anything to say, and removed only the
    empty logs of runs that finished: every stop (Ctrl-C, SIGTERM, a kill) left empty logs."""
    from rsmooth.config import RunConfig
    from rsmooth.sweep import local
    from rsmooth.sweep.jobs import Job

    ready = tmp_path / "ready"
    ready.mkdir()
    children: list[subprocess.Popen[bytes]] = []

    def spawn_fake(command, env, log, fds):
        name = Path(log.name).stem.split("__")[0]
        code = FAKE_CHILDREN[name]
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(ready / name)],
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=tuple(fds),
        )
        children.append(child)
        if len(children) == len(FAKE_CHILDREN):  # all started: stop the sweep
            deadline = time.monotonic() + 60
            while len(list(ready.iterdir())) < len(FAKE_CHILDREN):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGTERM)
        return child

    class Quiet:
        def started(self, job):
            pass

        def finished(self, outcome):
            pass

    logs = tmp_path / "logs"
    logs.mkdir()
    # left by a sweep killed outright (SIGKILL): its stopped child's line, nothing else
    (logs / "stopping__seed=0.log").write_text("rsmooth: error: interrupted (resumable: x)\n")
    monkeypatch.setattr(local, "_spawn", spawn_fake)
    jobs = [Job(f"{n}/seed=0", tmp_path / n / "seed=0", RunConfig(epochs=1)) for n in FAKE_CHILDREN]
    with pytest.raises(KeyboardInterrupt):
        local.run_local([[job] for job in jobs], tmp_path, len(jobs), Quiet())
    assert all(child.poll() is not None for child in children)
    assert [p.name for p in logs.iterdir()] == ["talking__seed=0.log"]
    assert "a person should read this" in (logs / "talking__seed=0.log").read_text()
    assert not any(is_locked(job.path) for job in jobs)


def test_a_log_is_silent_when_empty_or_only_a_stop(tmp_path):
    from rsmooth.sweep.local import drop_if_silent

    texts = {
        "empty": "",
        "stopped": "rsmooth: error: interrupted (resumable: run the sweep again)\n\n",
        "twice": "rsmooth: error: interrupted (resumable: a)\nrsmooth: error: interrupted (b)\n",
        "failed": "Traceback (most recent call last):\nOSError: disk full\n",
        "stopped-after-a-failure": "OSError: disk full\nrsmooth: error: interrupted (x)\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        drop_if_silent(tmp_path / name)
    drop_if_silent(tmp_path / "absent")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failed", "stopped-after-a-failure"]

"""rsmooth.runfolder, the run-folder contract: torch-free, tolerant readers (a damaged run is
"unreadable" with a reason, never an exception), strict JSON, the paper's metrics, ownership
locks, group-readable files, no litter."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rsmooth.runfolder import (
    COMPLETED,
    DIVERGED,
    FOREIGN,
    LOCK,
    LOCK_FD_ENV,
    RUNNING,
    TODO,
    UNREADABLE,
    RunFolder,
    RunLockedError,
    atomic_write_bytes,
    is_locked,
    layout_conflict,
    paper_metric,
    read_plans,
    read_results,
    read_run,
    replaced_plan,
    run_lock,
    strict_json,
    write_plan,
)
from tests.fixtures import flat_curve, write_run

REPO = Path(__file__).resolve().parents[1]


def test_importing_the_run_folder_module_does_not_import_torch():
    code = "import sys, rsmooth.runfolder; sys.exit(9 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_statuses_of_a_run_as_it_goes(tmp_path):
    assert read_run(tmp_path / "nothing").status == TODO
    run = write_run(tmp_path, "r", flat_curve(90.0, 4), epochs=8, status="running")
    assert (read_run(run).status, read_run(run).reason) == (RUNNING, "4/8 epochs")
    done = write_run(tmp_path, "d", flat_curve(90.0, 4))
    assert read_run(done).status == COMPLETED


def test_diverged_epochs_are_strict_json_and_read_as_diverged(tmp_path):
    record = {"epoch": 3, "train_loss": float("nan"), "val_loss": float("inf"), "val_acc": 10.0}
    text = strict_json(record)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"epoch": 3, "train_loss": None, "val_loss": None, "val_acc": 10.0}
    run = write_run(tmp_path, "r", [50.0, 40.0], epochs=10, status="running")
    with open(run / "metrics.jsonl", "a") as f:
        f.write(text + "\n")
    found = read_run(run)
    assert (found.status, found.reason) == (DIVERGED, "non-finite train_loss in epoch 3")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda r: (r / "config.yaml").write_text("- 1\n- 2\n"), "config.yaml is not a mapping"),
        (lambda r: (r / "config.yaml").write_bytes(b"\x00\xff\xfe binary"), "UTF-8"),
        (lambda r: (r / "config.yaml").write_text("seed: 1\nseed: 2\n"), "duplicate key"),
        (lambda r: (r / "config.yaml").write_text("model: [resnet20\n"), "valid YAML"),
        (lambda r: _line(r, '{"epoch": NaN, "val_acc": 1.0}'), "line 2: epoch nan"),
        (lambda r: _line(r, '{"epoch": 2, "val_acc": "high"}'), "line 2: val_acc 'high'"),
        (lambda r: _line(r, '{"epoch": "2", "val_acc": 1.0}'), "line 2: epoch '2'"),
        (lambda r: _line(r, "[1, 2]"), "line 2: not a JSON object"),
        (lambda r: _line(r, "[" * 100_000), "line 2: not JSON"),  # past the parser's recursion
        (lambda r: _set(r, "model", ["resnet20", "resnet56"]), "model is ['resnet20'"),
        (lambda r: _set(r, "model", {"name": "resnet20"}), "model is {'name'"),
        (lambda r: _set(r, "weight_decay", [0.001]), "weight_decay is [0.001]"),
        (lambda r: _set(r, "epochs", {"n": 3}), "epochs is {'n': 3}"),
        (lambda r: _set(r, "nesterov", "sometimes"), "nesterov is 'sometimes'"),
        (lambda r: _set(r, "epochs", -5), "epochs -5 in config.yaml is not an integer >= 1"),
    ],
)
def test_a_damaged_run_is_unreadable_with_its_reason(tmp_path, damage, reason):
    run = write_run(tmp_path, "r", [50.0, 60.0, 70.0])
    damage(run)
    found = read_run(run)
    assert found.status == UNREADABLE
    assert reason in found.reason


def test_a_summary_nested_past_the_parser_is_ignored_not_raised(tmp_path):
    run = write_run(tmp_path, "r", [50.0, 60.0, 70.0])
    (run / "summary.json").write_text("[" * 100_000)
    assert read_run(run).summary is None  # judged by its metrics, as any damaged summary


def _set(run: Path, name: str, value: object) -> None:
    """config.yaml with one field's value replaced (a list or mapping where a value belongs)."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    config[name] = value
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _line(run: Path, text: str) -> None:
    """Replace the second metrics line (not the last: a bad last line is a write in progress)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[1] = text
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_config_is_unreadable(tmp_path):
    run = write_run(tmp_path, "r", [50.0])
    (run / "config.yaml").chmod(0)
    assert read_run(run).status == UNREADABLE


def test_paper_metrics_with_epochs_not_evaluated(tmp_path):
    records = [{"epoch": e, "val_acc": 80.0 + e} for e in range(8, 11)]
    records = [{"epoch": e} for e in range(1, 8)] + records  # val_start: early epochs skipped
    assert paper_metric(records, "max", 10) == 90.0
    assert paper_metric(records, "mean", 10) == 90.0  # ceil(10% of 10) = the last epoch
    assert math.isnan(paper_metric(records[:7], "mean", 10))
    assert math.isnan(paper_metric(records, "max", 10, "holdout"))


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o644  # group- and world-readable


def test_litter_of_a_killed_writer_is_removed(tmp_path):
    folder = RunFolder(tmp_path)
    (tmp_path / ".checkpoint.pt.abc.tmp").write_bytes(b"half")
    (tmp_path / ".summary.json.xyz.tmp").write_text("{")
    (tmp_path / "checkpoint.pt").write_bytes(b"whole")
    assert {p.name for p in folder.remove_litter()} == {
        ".checkpoint.pt.abc.tmp",
        ".summary.json.xyz.tmp",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


# ----------------------------------------------------------------------------- ownership
def test_a_run_has_one_owner(tmp_path):
    with run_lock(tmp_path / "run"):
        assert is_locked(tmp_path / "run")
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"), run_lock(tmp_path / "run"):
            pass
    assert not is_locked(tmp_path / "run")
    with run_lock(tmp_path / "run"):  # free again
        pass


HOLD = """
import sys, time
from rsmooth.runfolder import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_killed_owner_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "run")], cwd=REPO, stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    assert is_locked(tmp_path / "run")
    holder.send_signal(signal.SIGKILL)
    holder.communicate()  # reaps it and closes its pipe
    deadline = time.monotonic() + 5
    while is_locked(tmp_path / "run") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_locked(tmp_path / "run")  # the kernel released it with the process


def test_a_child_adopts_the_lock_its_parent_took(tmp_path, monkeypatch):
    with run_lock(tmp_path / "run") as fd:
        monkeypatch.setenv(LOCK_FD_ENV, str(fd))
        with run_lock(tmp_path / "run") as adopted:  # as a sweep's child does
            assert adopted == fd
        with run_lock(tmp_path / "other-run") as other:  # another folder: its own lock
            assert other != fd
    assert (tmp_path / "run" / LOCK).exists()


def test_config_yaml_round_trips(tmp_path):
    from rsmooth.config import RunConfig

    folder = RunFolder(tmp_path / "run")
    cfg = RunConfig(seed=3, holdout=0.1)
    folder.create(cfg)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["holdout"] == 0.1
    assert RunConfig.from_dict(folder.read_config_values()) == cfg


@pytest.mark.parametrize(
    ("path", "fields", "conflict"),
    [
        ("sgd/weight_decay=0.001/seed=0", {"weight_decay": 1e-3}, ""),
        ("sgd/weight_decay=0.001/seed=0", {"weight_decay": 1e-4}, "weight_decay=0.001"),
        ("sam/rho=0.05,lr=0.1/seed=3", {"rho": 0.05, "seed": 3}, ""),
        ("sam/rho=0.05,lr=0.2/seed=3", {"rho": 0.05, "seed": 3}, "lr=0.2"),
        ("sgd/weight_decay=0.001/seed=1", {"weight_decay": 1e-3}, "seed=1"),  # a copied seed
        ("sgd/nesterov=true/seed=0", {"nesterov": True}, ""),
        ("smooth/anneal=laplace,b=0.5/seed=0", {"anneal": "laplace", "b": 0.5}, ""),
        ("smooth/anneal=logistic/seed=0", {"anneal": "laplace"}, "anneal=logistic"),
        ("my-runs/no_such_field=3/seed0", {}, ""),  # not a field: not the sweep's layout
    ],
)
def test_a_folder_whose_path_contradicts_its_config_is_foreign(tmp_path, path, fields, conflict):
    fields.setdefault("seed", 0)
    write_run(tmp_path, path, [50.0, 60.0], **fields)
    (run,) = read_results([tmp_path])
    reason = layout_conflict(Path(path).parts, run.config or {})
    assert (conflict in reason) if conflict else reason == ""
    assert run.status == (FOREIGN if conflict else COMPLETED)
    assert run.reason == reason


def test_the_root_given_is_not_part_of_the_layout(tmp_path):
    run = write_run(tmp_path / "lr=0.5", "sgd/seed=0", [50.0], seed=0)  # lr is 0.1
    assert read_results([tmp_path / "lr=0.5"])[0].status == COMPLETED
    assert read_results([run])[0].status == COMPLETED


@pytest.mark.parametrize(
    ("environment", "engine"),
    [
        ({"device": "cpu", "precision": "fp32"}, "cpu fp32"),
        ({"device": "cpu", "precision": "fp32", "threads": 1}, "cpu fp32, 1 thread"),
        # on a GPU the host's threads do not touch the arithmetic; its kernels' determinism does
        (
            {"device": "cuda", "device_name": "NVIDIA H200", "precision": "bf16", "threads": 16},
            "NVIDIA H200 bf16",
        ),
        (
            {
                "device": "cuda",
                "device_name": "NVIDIA H200",
                "precision": "bf16",
                "deterministic": True,
            },
            "NVIDIA H200 bf16, deterministic",
        ),  # fmt: skip
        # a CPU run is deterministic either way: the flag is recorded, the engine is one
        ({"device": "cpu", "precision": "fp32", "deterministic": True}, "cpu fp32"),
        ({"device": "cpu", "precision": "bf16", "deterministic": False}, "cpu bf16"),
        ({"device": "cpu"}, None),  # no precision: an older summary that does not say
    ],
)
def test_the_engine_of_a_run_names_what_changes_its_arithmetic(tmp_path, environment, engine):
    run = write_run(tmp_path, "r", [50.0])
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(dict(summary, environment=environment)))
    found = read_run(run).engine
    assert (None if found is None else found.label()) == engine


def test_a_sweeps_plan_reads_back_and_an_identical_one_is_not_rewritten(tmp_path):
    runs = [("sgd/weight_decay=0.001/seed=0", "sgd"), ("lr=0.1/seed=0", None)]
    path = write_plan(tmp_path / "sweep", "my/recipe", runs)
    assert path == tmp_path / "sweep" / "plans" / "my_recipe.json"  # a name, never a path
    (plan,) = read_plans([tmp_path, tmp_path / "sweep"])  # overlapping roots: read once
    assert (plan.recipe, plan.folder, plan.runs) == ("my/recipe", tmp_path / "sweep", tuple(runs))
    before = path.stat().st_ino
    write_plan(tmp_path / "sweep", "my/recipe", runs)  # a committed record stays as it is
    assert path.stat().st_ino == before  # an atomic rewrite would be a new file
    assert replaced_plan(tmp_path / "sweep", "my/recipe", runs) is None
    assert replaced_plan(tmp_path / "sweep", "my/recipe", runs[:1]) == plan  # about to change


@pytest.mark.parametrize(
    "text",
    [
        '{"recipe": "x", "grid": [{"variant": "sgd"}]}',  # no run name
        '{"recipe": "x", "grid": [{"run": "a\\u0000b"}]}',  # a NUL byte: no path
        '{"recipe": "x", "grid": [{"run": "/etc/passwd"}]}',  # absolute
        '{"recipe": "x", "grid": [{"run": "../other/seed=0"}]}',  # outside its sweep folder
        '{"recipe": {"x": 1}, "grid": []}',  # the recipe is not a name
        '{"recipe": "x", "grid": [{"run": "a", "variant": 3}]}',
        '{"recipe": "x", "grid": {}}',
        "[" * 100_000,  # nested past the parser's recursion limit
        "{not json",
    ],
)
def test_a_damaged_plan_is_skipped_never_raised(tmp_path, text):
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "x.json").write_text(text)
    assert read_plans([tmp_path]) == []

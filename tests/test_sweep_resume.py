"""`rsmooth sweep` on a results folder committed to git and cloned elsewhere: the run folders
hold config.yaml, metrics.jsonl and summary.json, never checkpoints. Completed records are
done and never touched; incomplete ones restart from scratch with a note; records of another
engine than this machine's are named, and a sweep refuses to add runs to them unless allowed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rsmooth.data.synthetic import write_synthetic
from rsmooth.parts import resolve
from rsmooth.sweep import expand, load_recipe
from rsmooth.sweep.engines import (
    Engine,
    EngineMix,
    engine_mix,
    match_hints,
    planned_engine,
    recorded_engine,
)
from tests.cli import invoke
from tests.fixtures import flat_curve, write_run

REPO = Path(__file__).resolve().parents[1]
DONE, CUT = "sgd/weight_decay=0.001/seed=0", "sgd/weight_decay=0.0001/seed=0"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic("fashion-mnist", tmp_path_factory.mktemp("data"), 64, 32)


def write_recipe(folder: Path, data: Path, epochs: int = 2) -> Path:
    recipe = {
        "name": "tiny",
        "base": {
            "data_dir": str(data),
            "epochs": epochs,
            "batch_size": 16,
            "eval_batch_size": 32,
            "device": "cpu",
            "num_threads": 1,
        },
        "variants": [{"name": "sgd", "grid": {"weight_decay": [0.001, 0.0001]}}],
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def environment(cfg, **changes) -> dict:
    """summary.json's environment for a run of ``cfg`` on this machine, with ``changes``."""
    engine = planned_engine(cfg)
    assert engine is not None
    record = {"device": engine.device, "device_name": engine.device_name}
    record |= {"precision": engine.precision, "threads": engine.threads, "torch": "2.x"}
    return record | changes


def precisions() -> tuple[str, str]:
    """(this machine's, the other): auto is bf16 on a CPU with native bf16, else fp32."""
    from rsmooth.config import RunConfig

    engine = planned_engine(resolve(RunConfig(device="cpu", num_threads=1)))
    assert engine is not None
    here = engine.precision
    return here, "fp32" if here == "bf16" else "bf16"


def commit(out: Path, recipe: Path, cut_epochs: int = 1, cut_status: str = "running", **env):
    """What a clone of a committed results folder holds: DONE completed, CUT stopped after
    ``cut_epochs`` epochs (``cut_status``); no checkpoint, no lock, no log. ``env`` changes
    the engine the records say they ran on."""
    runs = {run.name: run for run in expand(load_recipe(recipe))}
    for name, epochs_done, status in [(DONE, None, "completed"), (CUT, cut_epochs, cut_status)]:
        cfg = runs[name].config
        fields = {k: v for k, v in cfg.to_dict().items() if k != "epochs"}
        curve = flat_curve(80.0, cfg.epochs)[: cfg.epochs if epochs_done is None else epochs_done]
        folder = write_run(out, name, curve, status=status, epochs=cfg.epochs, **fields)
        summary = json.loads((folder / "summary.json").read_text())
        summary["environment"] = environment(cfg, **env)
        (folder / "summary.json").write_text(json.dumps(summary))


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its content hash and mtime (a rewrite changes one)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def lines(result) -> str:
    return " ".join(result.output.split())


# ----------------------------------------------------------------------------- fresh clone
def test_a_clone_lists_completed_records_as_done_and_restarts_the_rest(tmp_path, data, capsys):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    commit(out, recipe)
    before = fingerprint(out)
    result = invoke(["sweep", recipe, "--out", out, "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    text = lines(result)
    assert f"{DONE} │ completed │ 2/2" in text and f"{CUT} │ running │ 1/2" in text
    assert (
        f"restarting {CUT} from scratch: no checkpoint on this machine (epoch 1 of 2 recorded)"
        in text
    )
    assert "cost: 1 runs to run, 2 epochs" in text  # all its epochs: it starts at epoch 1
    assert "different engine" not in text
    assert fingerprint(out) == before  # a dry run writes nothing


def test_a_failed_record_without_epochs_restarts_with_a_note(tmp_path, data, capsys):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    commit(out, recipe, cut_epochs=0, cut_status="failed")
    result = invoke(["sweep", recipe, "--out", out, "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    assert f"restarting {CUT} from scratch: no checkpoint on this machine (no epoch recorded)" in (
        lines(result)
    )


def test_a_record_with_its_checkpoint_here_resumes_without_a_note(tmp_path, data, capsys):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    commit(out, recipe)
    (out / CUT / "checkpoint.pt").write_bytes(b"the state of epoch 1")
    result = invoke(["sweep", recipe, "--out", out, "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    assert "restarting" not in result.output
    assert "cost: 1 runs to run, 1 epochs" in lines(result)


# ----------------------------------------------------------------------------- engines
def test_records_of_another_engine_are_named_by_the_dry_run(tmp_path, data, capsys):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    here, there = precisions()
    commit(out, recipe, precision=there)
    result = invoke(["sweep", recipe, "--out", out, "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    assert (
        f"1 completed record ran on cpu {there}, 1 thread; new runs here would be cpu {here}, "
        "1 thread: their trials are a different engine — sweep into another --out, or "
        f"--set precision={there} to match; a sweep refuses unless --allow-mixed-engines"
    ) in lines(result)


def test_a_sweep_refuses_to_mix_engines_unless_allowed(tmp_path, data, capsys):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    _, there = precisions()
    commit(out, recipe, precision=there)
    before = fingerprint(out)
    result = invoke(["sweep", recipe, "--out", out], capsys)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"rsmooth: error: 1 completed record ran on cpu {there}, 1 thread;")
    assert line.endswith(f"--set precision={there} to match, or --allow-mixed-engines")
    assert fingerprint(out) == before  # nothing written
    # --set precision=... makes the new runs that engine: no mix left to refuse
    matched = invoke(
        ["sweep", recipe, "--out", out, "--dry-run", "--set", f"precision={there}"], capsys
    )
    assert matched.exit_code == 0 and "different engine" not in matched.output


def test_records_that_name_no_cpu_are_another_engine_than_this_named_one(tmp_path, data, capsys):
    """Records written before rsmooth named the CPU say its architecture alone ("x86_64"): an
    AMX Xeon's and an AMD EPYC's read alike, so a sweep must not add this CPU's runs to them
    as one engine; the line says why, and --allow-mixed-engines is the user's call."""
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    commit(out, recipe, device_name="x86_64")
    result = invoke(["sweep", recipe, "--out", out, "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    here = planned_engine(resolve(expand(load_recipe(recipe))[0].config))
    assert here is not None and not here.cpu_unnamed
    assert (
        f"1 completed record ran on cpu (x86_64) {here.precision}, 1 thread; new runs here "
        f"would be cpu ({here.device_name}) {here.precision}, 1 thread: their trials are a "
        "different engine (x86_64: recorded before rsmooth named the CPU's model and "
        "instruction set, so nothing says these records ran on this CPU; mix them only if you "
        "know they did) — sweep into another --out; a sweep refuses unless --allow-mixed-engines"
    ) in lines(result)
    allowed = invoke(["sweep", recipe, "--out", out, "--dry-run", "--allow-mixed-engines"], capsys)
    assert allowed.exit_code == 0


def test_two_named_cpus_are_two_engines_and_no_flag_matches_them():
    amx = engine(device_name="Intel(R) Xeon(R) Platinum 8481C, AMX", precision="bf16")
    epyc = engine(device_name="AMD EPYC, AVX512-BF16", precision="bf16")
    assert not amx.matches(epyc) and amx.matches(amx)
    assert match_hints(amx, epyc) == []  # no --set turns one CPU into another
    assert not amx.cpu_unnamed and engine().cpu_unnamed
    assert epyc.label(with_cpu_name=True) == "cpu (AMD EPYC, AVX512-BF16) bf16, 1 thread"


@pytest.mark.parametrize("old_name", ["x86_64", ""])
def test_a_record_that_names_no_cpu_still_has_its_precision_and_threads_matched(old_name):
    """The record's name cannot be matched, its other fields can: the hints say how, and the
    explanation of the name comes only where the name is the one difference."""
    old = engine(device_name=old_name, precision="bf16")
    shown = old_name or "no CPU name"
    here = engine(device_name="AMD EPYC, AVX512-BF16", precision="bf16")
    assert old.named_alike(here) and here.named_alike(old) and not old.matches(here)
    line = EngineMix({old: 28}, (here,)).message()
    assert f"28 completed records ran on cpu ({shown}) bf16, 1 thread; " in line
    assert f"different engine ({shown}: recorded before rsmooth named the CPU's model" in line
    assert line.endswith("— sweep into another --out")
    other = engine(device_name="AMD EPYC, AVX512-BF16", precision="fp32", threads=2)
    assert not old.named_alike(other)
    assert match_hints(old, other) == ["--set precision=bf16 --set num_threads=1 to match"]
    line = EngineMix({old: 28}, (other,)).message()
    assert "recorded before" not in line
    assert line.endswith("--set precision=bf16 --set num_threads=1 to match")
    gpu = engine(device="cuda", device_name="NVIDIA H100", threads=None, precision="bf16")
    assert not old.named_alike(gpu)
    assert "recorded before" not in EngineMix({old: 28}, (gpu,)).message()


def test_runs_that_resume_from_their_checkpoint_keep_their_engine(tmp_path, data, capsys):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    _, there = precisions()
    commit(out, recipe, precision=there)
    config = yaml.safe_load((out / CUT / "config.yaml").read_text())
    (out / CUT / "config.yaml").write_text(yaml.safe_dump(config | {"precision": there}))
    (out / CUT / "checkpoint.pt").write_bytes(b"the state of epoch 1")
    result = invoke(["sweep", recipe, "--out", out, "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    assert "different engine" not in result.output  # it goes on as it began


def engine(**changes) -> Engine:
    fields = {"device": "cpu", "device_name": "x86_64", "precision": "fp32", "threads": 1}
    return Engine(**(fields | {"deterministic": None} | changes))


def test_an_engine_is_device_precision_cpu_threads_and_gpu_determinism():
    gpu = engine(device="cuda", device_name="NVIDIA H100", threads=None, precision="bf16")
    assert engine().label() == "cpu fp32, 1 thread"
    assert engine(threads=4).label(with_cpu_name=True) == "cpu (x86_64) fp32, 4 threads"
    assert gpu.label() == "NVIDIA H100 bf16"
    assert gpu.matches(gpu) and not gpu.matches(engine())
    # determinism counts where both sides record it (older records do not)
    det = Engine("cuda", "NVIDIA H100", "bf16", None, True)
    nondet = Engine("cuda", "NVIDIA H100", "bf16", None, False)
    assert gpu.matches(det) and gpu.matches(nondet) and not det.matches(nondet)
    assert det.label() == "NVIDIA H100 bf16, deterministic"
    assert match_hints(det, nondet) == ["--set deterministic=true to match"]
    assert match_hints(engine(precision="bf16", threads=2), engine()) == [
        "--set precision=bf16 --set num_threads=2 to match"
    ]
    assert match_hints(gpu, engine()) == []  # no flag turns this CPU into that GPU
    assert match_hints(engine(), gpu) == ["--device cpu to match"]
    # on a GPU the CPU threads do not touch the arithmetic; a record without precision says nothing
    environment = {"device": "cuda:0", "device_name": "NVIDIA H100", "precision": "bf16"}
    assert recorded_engine({"environment": environment | {"threads": 16}}) == gpu
    assert recorded_engine({"environment": {"device": "cpu"}}) is None


def test_a_child_describes_an_engine_as_this_process_does():
    """GPU runs are described by a short-lived process (the sweep's must not hold a CUDA
    context); on the CPU both ways give the same description."""
    from rsmooth.config import RunConfig
    from rsmooth.engine.environment import select_environment
    from rsmooth.sweep.engines import describe_in_a_child

    cfg = resolve(RunConfig(device="cpu", num_threads=1))
    here = select_environment(cfg).describe(cfg)
    assert describe_in_a_child(cfg) == here


def test_engine_mix_counts_records_per_engine_and_ignores_runs_that_match(tmp_path, data):
    from rsmooth.sweep import sweep_status

    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    here, there = precisions()
    commit(out, recipe, precision=there)
    statuses = sweep_status(expand(load_recipe(recipe)), out)
    mix = engine_mix(statuses, lambda status: status.run.config)
    assert mix is not None and list(mix.recorded.values()) == [1]
    assert [e.precision for e in mix.new] == [here]
    same = engine_mix(statuses, lambda status: status.run.config.replace(precision=there))
    assert same is None


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_clone_resumes_restarts_from_scratch_and_leaves_completed_records(tmp_path, data):
    recipe, out = write_recipe(tmp_path, data), tmp_path / "out"
    commit(out, recipe)
    # The record was started on another machine: its engine fields name that machine's data
    # and threads, which restarting from scratch here must not use.
    cut_config = out / CUT / "config.yaml"
    theirs = yaml.safe_load(cut_config.read_text())
    cut_config.write_text(yaml.safe_dump(theirs | {"data_dir": "/home/alice/data"}))
    done_before = fingerprint(out / DONE)
    sweep = [sys.executable, "-m", "rsmooth", "sweep", str(recipe), "--out", str(out)]
    result = subprocess.run(sweep, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = " ".join((result.stdout + result.stderr).split())
    assert f"restarting {CUT} from scratch: no checkpoint on this machine (epoch 1 of 2" in text
    assert "1 already done, 1 completed now, 0 failed or diverged" in text
    assert fingerprint(out / DONE) == done_before  # not one byte, not one mtime
    metrics = [json.loads(x) for x in (out / CUT / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[0]["train_loss"] != 0.8  # epoch 1 trained here, not the record's (fixture)
    assert yaml.safe_load(cut_config.read_text())["data_dir"] == str(data)  # this machine's
    assert not (out / "logs").exists()
    again = subprocess.run(sweep, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "restarting" not in again.stdout + again.stderr
    assert fingerprint(out / DONE) == done_before


@pytest.mark.slow
def test_a_sweep_stopped_mid_way_keeps_the_completed_records(tmp_path, data):
    recipe, out = write_recipe(tmp_path, data, epochs=60), tmp_path / "out"
    commit(out, recipe)
    done_before = fingerprint(out / DONE)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "rsmooth", "sweep", str(recipe), "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (out / CUT / "checkpoint.pt").exists():  # restarted, one epoch saved here
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(sweep.pid, signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=60)
    assert sweep.returncode == 130
    assert stderr.strip().splitlines()[-1] == (
        "rsmooth: error: interrupted (resumable: run the same command again)"
    )
    assert fingerprint(out / DONE) == done_before
    assert json.loads((out / CUT / "summary.json").read_text())["status"] == "running"
    assert not (out / "logs").exists()  # the stopped run said nothing but that it stopped

"""The dry run's cost (rsmooth.sweep.estimate): measured from completed runs in the out dir, and
scaled by gradient evaluations per step for a step rule with no completed run yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsmooth.config import RunConfig
from rsmooth.engine.environment import cpu_name
from rsmooth.methods import STEP_RULES
from rsmooth.parts import resolve
from rsmooth.sweep.display import cost_line
from rsmooth.sweep.estimate import estimate_cost
from rsmooth.sweep.recipe import PlannedRun
from rsmooth.sweep.state import run_status
from tests.fixtures import write_run

BASE = {"model": "resnet20", "data": "fashion-mnist", "device": "cpu", "subset": 0.125}
EPOCHS = 4
SGD_SECONDS_PER_EPOCH = 10.0


def measured_run(out_dir: Path, name: str, per_epoch: float, **fields: object) -> None:
    """A completed run that took ``per_epoch`` seconds per epoch on this machine's CPU."""
    run = write_run(out_dir, name, [80.0] * EPOCHS, **BASE, **fields)
    summary = json.loads((run / "summary.json").read_text())
    summary["total_seconds"] = per_epoch * EPOCHS
    summary["environment"] = {"device": "cpu", "device_name": cpu_name()}
    (run / "summary.json").write_text(json.dumps(summary))


def measured_sgd_run(out_dir: Path) -> None:
    """A completed one-pass (plain step rule) run that took 10 s per epoch."""
    measured_run(out_dir, "sgd/seed=0", SGD_SECONDS_PER_EPOCH)


def planned(name: str, **fields: object) -> PlannedRun:
    config = resolve(RunConfig.from_dict({**BASE, "epochs": EPOCHS, "seed": 1, **fields}))
    return PlannedRun(name, None, config)


@pytest.mark.parametrize("rule", STEP_RULES.names())
def test_a_rule_without_a_run_is_scaled_from_the_one_pass_run(tmp_path, rule):
    measured_sgd_run(tmp_path)
    statuses = [run_status(planned(f"{rule}/seed=1", step_rule=rule), tmp_path)]
    cost = estimate_cost(statuses, tmp_path)
    count = STEP_RULES.info(rule).get("gradient_evaluations")
    if count is None:  # a rule that declares no count is not priced from another's speed
        assert (cost.runs_measured, cost.runs_scaled) == (0, 0)
        return
    assert cost.runs_left == cost.runs_measured == 1
    assert cost.runs_scaled == (0 if rule == "plain" else 1)
    assert cost.seconds == pytest.approx(SGD_SECONDS_PER_EPOCH * EPOCHS * count)


def test_the_line_says_which_runs_are_scaled(tmp_path):
    measured_sgd_run(tmp_path)
    statuses = [
        run_status(planned("sgd/seed=1"), tmp_path),
        run_status(planned("sam/seed=1", step_rule="sam"), tmp_path),
    ]
    line = cost_line(statuses, tmp_path)
    # 40 s for the SGD run, 80 s for SAM's two passes per step
    assert line.startswith("cost: 2 runs to run, 8 epochs, about 2.0 min on one worker")
    assert "(1 of them scaled from another step rule's measured speed" in line
    assert "double backprop" not in line  # said only where a double-backprop run was scaled
    statuses.append(run_status(planned("gr-db/seed=1", step_rule="gr-db"), tmp_path))
    assert "double backprop costs more than its count" in cost_line(statuses, tmp_path)


def test_the_one_pass_run_prices_the_others_before_any_two_pass_run(tmp_path):
    """SAM measured at 3x SGD's epoch (say, its ascent step is slow here) does not pull F-GR's
    price up: the one-pass run's speed times F-GR's 2 passes."""
    measured_sgd_run(tmp_path)
    measured_run(tmp_path, "sam/seed=0", 3 * SGD_SECONDS_PER_EPOCH, step_rule="sam")
    statuses = [run_status(planned("f/seed=1", step_rule="gr-forward"), tmp_path)]
    assert estimate_cost(statuses, tmp_path).seconds == pytest.approx(2 * 10.0 * EPOCHS)


def test_other_cost_fields_are_not_scaled_across(tmp_path):
    """A different batch size or model is another cost: nothing measured, nothing scaled."""
    measured_sgd_run(tmp_path)
    statuses = [run_status(planned("sam/seed=1", step_rule="sam", batch_size=64), tmp_path)]
    cost = estimate_cost(statuses, tmp_path)
    assert (cost.runs_measured, cost.runs_scaled, cost.seconds) == (0, 0, 0.0)
    assert "seconds unknown" in cost_line(statuses, tmp_path)


def _on_cpu(out_dir: Path, name: str, cpu: str | None) -> None:
    path = out_dir / name / "summary.json"
    summary = json.loads(path.read_text())
    summary["environment"] = {"device": "cpu"} | ({} if cpu is None else {"device_name": cpu})
    path.write_text(json.dumps(summary))


def test_this_cpus_records_price_a_run_before_another_cpus_which_the_line_names(tmp_path):
    """An AMX Xeon's records priced a cloned folder's runs on an AMD EPYC as if it were the
    Xeon: this CPU's own records come first, and another CPU's estimate says it is one."""
    measured_run(tmp_path, "sgd/seed=0", 30.0)
    _on_cpu(tmp_path, "sgd/seed=0", "Another CPU 1000, AMX")
    statuses = [run_status(planned("sgd/seed=1"), tmp_path)]
    cost = estimate_cost(statuses, tmp_path)
    assert (cost.runs_measured, cost.runs_other_cpu, cost.seconds) == (1, 1, 30.0 * EPOCHS)
    assert "(1 of them priced from the records of another CPU" in cost_line(statuses, tmp_path)
    # this CPU's SAM run, scaled to SGD's one pass, prices it before the other CPU's exact SGD
    measured_run(tmp_path, "sam/seed=2", 2 * SGD_SECONDS_PER_EPOCH, step_rule="sam")
    cost = estimate_cost(statuses, tmp_path)
    assert (cost.runs_other_cpu, cost.runs_scaled) == (0, 1)
    assert cost.seconds == pytest.approx(SGD_SECONDS_PER_EPOCH * EPOCHS)
    assert "another CPU" not in cost_line(statuses, tmp_path)


@pytest.mark.parametrize("cpu", [None, "x86_64"])
def test_records_that_name_no_cpu_price_as_another_cpus_exact_before_scaled(tmp_path, cpu):
    """A committed record that names no CPU (an older rsmooth) prices a run here, said to be
    another CPU's; among other CPUs a run measured itself wins over one scaled from SAM's."""
    measured_run(tmp_path, "a/sam/seed=0", 100.0, step_rule="sam")
    _on_cpu(tmp_path, "a/sam/seed=0", "A CPU, AVX2")
    measured_run(tmp_path, "b/sgd/seed=0", 30.0)
    _on_cpu(tmp_path, "b/sgd/seed=0", cpu)
    statuses = [run_status(planned("sgd/seed=1"), tmp_path)]
    cost = estimate_cost(statuses, tmp_path)
    assert (cost.runs_other_cpu, cost.runs_scaled, cost.seconds) == (1, 0, 30.0 * EPOCHS)

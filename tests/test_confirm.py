"""The confirmation stage of a recipe (rsmooth.sweep.confirm): the choice of each variant's
winner on the held-out split, its fresh-seed runs, and a kill at any point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rsmooth.data.synthetic import write_synthetic
from rsmooth.errors import RecipeError
from rsmooth.sweep import expand
from rsmooth.sweep.confirm import check_selectable, choose, plan_confirmation
from rsmooth.sweep.recipe import parse_recipe
from rsmooth.sweep.runner import confirmation_runs
from tests.fixtures import flat_curve, write_run

REPO = Path(__file__).resolve().parents[1]
RECIPE = {
    "name": "verdict",
    "seeds": [0, 1],
    "base": {"epochs": 4, "holdout": 0.1},
    "variants": [
        {"name": "sgd", "grid": {"weight_decay": [1e-3, 1e-4]}},
        {"name": "smooth", "anneal": "logistic", "grid": {"b": [0.3, 0.9]}},
    ],
    "confirm": {"trials": 3, "first_seed": 100, "select": "holdout", "metric": "mean"},
}
# held-out accuracy of each configuration (the test split says the opposite, to be sure the
# choice does not look at it)
HELD = {"sgd/weight_decay=0.001": 80.0, "sgd/weight_decay=0.0001": 82.0}
HELD |= {"smooth/b=0.3": 83.0, "smooth/b=0.9": 81.0}


def _grid(tmp_path: Path, held: dict[str, float] = HELD, skip: str = "") -> list:
    recipe = parse_recipe(RECIPE)
    runs = expand(recipe)
    for run in runs:
        name = run.name.rsplit("/seed=", 1)[0]
        if name == skip:
            continue
        folder = write_run(
            tmp_path,
            run.name,
            flat_curve(100.0 - held[name], 4),
            **{k: v for k, v in run.config.to_dict().items() if k != "epochs"},
        )
        lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        for record in lines:
            record.update(holdout_loss=0.2, holdout_acc=held[name] + run.config.seed * 0.1)
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return [recipe, runs]


def test_each_variant_winner_is_chosen_on_the_held_out_split(tmp_path):
    recipe, runs = _grid(tmp_path)
    choices = choose(recipe, runs, tmp_path)
    assert {c.variant: c.winner.name for c in choices} == {
        "sgd": "sgd/weight_decay=0.0001",
        "smooth": "smooth/b=0.3",
    }
    assert all(len(c.candidates) == 2 for c in choices)
    (sgd_score,) = [c.score for c in choices[0].candidates if c.name == "sgd/weight_decay=0.0001"]
    assert sgd_score == pytest.approx(82.05)  # mean over seeds 0, 1 of the held-out mean
    planned = plan_confirmation(recipe, choices)
    assert [p.name for p in planned[:2]] == [
        "confirm/sgd/weight_decay=0.0001/seed=100",
        "confirm/smooth/b=0.3/seed=100",
    ]
    assert [p.config.seed for p in planned] == [100, 100, 101, 101, 102, 102]
    assert planned[0].config.replace(seed=0) == runs[1].config  # the winner's config, reseeded


def test_ties_go_to_the_first_listed_and_unfinished_grids_wait(tmp_path):
    tie = dict(HELD, **{"sgd/weight_decay=0.001": 82.0})
    recipe, runs = _grid(tmp_path / "tie", tie)
    choices = choose(recipe, runs, tmp_path / "tie")
    assert choices[0].winner.name == "sgd/weight_decay=0.001"
    recipe, runs = _grid(tmp_path / "partial", skip="smooth/b=0.9")
    planned, note = confirmation_runs(recipe, runs, tmp_path / "partial")
    assert planned == [] and note.startswith("waits for the grid: 2 of its runs")
    assert not (tmp_path / "partial" / "confirm").exists()


def test_a_diverged_candidate_cannot_win(tmp_path):
    recipe, runs = _grid(tmp_path, dict(HELD, **{"smooth/b=0.9": 99.0}))
    summary = tmp_path / "smooth/b=0.9/seed=1/summary.json"
    record = json.loads(summary.read_text())
    summary.write_text(json.dumps(dict(record, status="diverged", error="nan")))
    (smooth,) = [c for c in choose(recipe, runs, tmp_path) if c.variant == "smooth"]
    assert smooth.winner.name == "smooth/b=0.3"
    assert [c.why for c in smooth.candidates if c.score is None] == ["seed 1 diverged"]


def test_selection_json_records_every_seed_the_spread_and_the_margin(tmp_path):
    recipe, runs = _grid(tmp_path, dict(HELD, **{"smooth/b=0.9": 99.0}))
    summary = tmp_path / "smooth/b=0.9/seed=1/summary.json"
    summary.write_text(json.dumps(dict(json.loads(summary.read_text()), status="diverged")))
    confirmation_runs(recipe, runs, tmp_path)
    path = tmp_path / "confirm" / "selection.json"
    record = json.loads(path.read_text())
    assert record["grid_seeds"] == [0, 1] and record["seeds"] == [100, 101, 102]
    sgd, smooth = record["groups"]
    best = {c["name"]: c for c in sgd["candidates"]}["sgd/weight_decay=0.0001"]
    # held-out mean of each seed (82.0 + 0.1 * seed), their mean (the score that chose), and
    # their sample standard deviation, 0.1 / sqrt(2)
    assert [(s["seed"], s["score"]) for s in best["per_seed"]] == [(0, 82.0), (1, 82.1)]
    assert best["score"] == pytest.approx(82.05)
    assert best["seed_std"] == pytest.approx(0.1 / 2**0.5)
    assert sgd["winner"] == "sgd/weight_decay=0.0001"
    assert sgd["margin"] == pytest.approx(2.0)  # 82.05 against the runner-up's 80.05
    diverged = {c["name"]: c for c in smooth["candidates"]}["smooth/b=0.9"]
    assert diverged["score"] is None and diverged["seed_std"] is None
    assert diverged["not_eligible"] == "seed 1 diverged"
    assert [s["seed"] for s in diverged["per_seed"]] == [0]  # the seed that has a score
    assert smooth["margin"] is None  # one eligible candidate: nothing to win by
    written = path.stat().st_mtime_ns
    confirmation_runs(recipe, runs, tmp_path)  # the same choice: the file is left as it is
    assert path.stat().st_mtime_ns == written


def test_declared_contrasts_are_recorded_with_the_choice(tmp_path):
    declared = dict(RECIPE, confirm=dict(RECIPE["confirm"], contrasts=[["smooth", "sgd"]]))
    recipe = parse_recipe(declared)
    assert recipe.confirm.contrasts == (("smooth", "sgd"),)
    _, runs = _grid(tmp_path)
    confirmation_runs(recipe, runs, tmp_path)
    record = json.loads((tmp_path / "confirm" / "selection.json").read_text())
    assert record["contrasts"] == [["smooth", "sgd"]]
    # a recipe without contrasts writes no key: older records stay as they were
    _, runs = _grid(tmp_path / "plain")
    confirmation_runs(parse_recipe(RECIPE), runs, tmp_path / "plain")
    assert "contrasts" not in json.loads((tmp_path / "plain/confirm/selection.json").read_text())


def test_a_dry_run_lists_the_declared_contrasts(tmp_path, capsys):
    from tests.cli import invoke

    path = tmp_path / "declared.yaml"
    declared = dict(RECIPE, confirm=dict(RECIPE["confirm"], contrasts=[["smooth", "sgd"]]))
    path.write_text(json.dumps(declared))  # JSON is YAML
    result = invoke(["sweep", path, "--out", tmp_path / "out", "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "declared head-to-head comparisons (report tests them): smooth against sgd" in text


@pytest.mark.parametrize(
    "contrasts, needle",
    [
        ("smooth", "confirm.contrasts: 'smooth'"),
        ([["smooth", "sdg"]], "['smooth', 'sdg']"),
        ([["smooth", "smooth"]], "['smooth', 'smooth']"),
        ([["smooth"]], "['smooth']"),
        ([["smooth", "sgd"], ["sgd", "smooth"]], "given twice"),
    ],
)
def test_bad_contrasts_are_one_line_naming_the_variants(contrasts, needle):
    declared = dict(RECIPE, confirm=dict(RECIPE["confirm"], contrasts=contrasts))
    with pytest.raises(RecipeError) as err:
        parse_recipe(declared)
    message = str(err.value)
    assert needle in message and "\n" not in message and "allowed" in message
    if "twice" not in needle:
        assert "variants: sgd, smooth" in message


def test_a_dry_run_shows_the_confirmation_without_writing_it(tmp_path, capsys):
    from tests.cli import invoke

    recipe, runs = _grid(tmp_path / "out")
    path = tmp_path / "verdict.yaml"
    path.write_text(json.dumps(RECIPE))  # JSON is YAML
    result = invoke(["sweep", path, "--out", tmp_path / "out", "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "verdict confirmation (2 winners)" in text
    assert "confirm/sgd/weight_decay=0.0001/seed=100 │ todo" in text
    assert not (tmp_path / "out" / "confirm").exists()


def test_selection_on_holdout_needs_a_held_out_split():
    values = dict(RECIPE, base={"epochs": 4})
    recipe = parse_recipe(values)
    with pytest.raises(RecipeError, match="holdout needs a held-out split"):
        check_selectable(recipe, expand(recipe))
    with pytest.raises(RecipeError, match="reuses grid seed"):
        parse_recipe(dict(RECIPE, confirm={"first_seed": 1}))


# ----------------------------------------------------------------------------- end to end
TINY = """
name: tiny
seeds: [0]
base: {{data_dir: {data}, epochs: 2, batch_size: 16, eval_batch_size: 32, num_threads: 1,
        holdout: 0.25, val_start: 0.5}}
variants:
  - name: sgd
    grid: {{weight_decay: [0.001, 0.0001]}}
  - name: smooth
    anneal: logistic
    grid: {{b: [0.3, 0.9]}}
confirm: {{trials: 2, first_seed: 100, select: holdout, metric: mean}}
"""
SWEEP = [sys.executable, "-m", "rsmooth", "sweep"]


def _records(out: Path) -> dict[str, list[dict]]:
    keep = ("epoch", "train_loss", "val_acc", "holdout_acc")
    return {
        str(p.parent.relative_to(out)): [
            {k: r.get(k) for k in keep} for r in map(json.loads, p.read_text().splitlines())
        ]
        for p in sorted(out.rglob("metrics.jsonl"))
    }


@pytest.mark.slow
def test_a_sweep_killed_during_confirmation_ends_as_an_unbroken_one(tmp_path):
    data = write_synthetic("fashion-mnist", tmp_path / "data", 64, 32)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(data=data))
    unbroken = subprocess.run([*SWEEP, str(recipe), "--out", str(tmp_path / "a")], cwd=REPO)
    assert unbroken.returncode == 0
    assert len(list((tmp_path / "a" / "confirm").rglob("summary.json"))) == 4
    # the same sweep, stopped (SIGTERM) as soon as its confirmation stage has started a run
    sweep = subprocess.Popen([*SWEEP, str(recipe), "--out", str(tmp_path / "b")], cwd=REPO)
    deadline = time.monotonic() + 600
    while not list((tmp_path / "b" / "confirm").rglob("config.yaml")):
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=30) == 130  # interrupted, resumable
    again = subprocess.run([*SWEEP, str(recipe), "--out", str(tmp_path / "b")], cwd=REPO)
    assert again.returncode == 0
    assert _records(tmp_path / "b") == _records(tmp_path / "a")
    for out in ("a", "b"):
        choice = json.loads((tmp_path / out / "confirm" / "selection.json").read_text())
        assert [g["winner"] for g in choice["groups"]] == [
            g["winner"]
            for g in json.loads((tmp_path / "a" / "confirm" / "selection.json").read_text())[
                "groups"
            ]
        ]

"""rsmooth report's verdict beyond one difference: each method against the right baseline (its
own optimizer's plain form), against SGD at equal compute, what it cost (--cost), how sure
each choice is, and what the confirmation could have detected."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from rsmooth.report import build_report, to_markdown, write_report
from rsmooth.report.records import csv_records
from rsmooth.report.stats import (
    detectable_difference,
    detectable_paired_difference,
    holm,
    paired,
    pooled_sd,
    welch,
)
from rsmooth.report.text import p_equals, p_value
from rsmooth.runfolder import write_plan
from tests.fixtures import flat_curve, write_run


def trials(root: Path, folder: str, finals: list[float], epochs: int = 10, **fields) -> None:
    """One completed run per final accuracy (its max), seeds 0, 1, ... under ``root/folder``."""
    for seed, final in enumerate(finals):
        curve = flat_curve(final, epochs)
        write_run(root, f"{folder}/seed={seed}", curve, seed=seed, epochs=epochs, **fields)


def table(text: str, title: str) -> list[dict[str, str]]:
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, [c.strip() for c in line.strip("|").split("|")], strict=True))
        for line in lines[2:]
    ]


def verdict_of(root: Path, **options) -> str:
    """The report's confirmation verdict section (table, notes, sentences) as Markdown."""
    text = to_markdown(build_report([root], **options))
    return text.split("## Verdict: confirmation runs", 1)[1].split("\n## ", 1)[0]


GRID = "Against the SGD baseline (grid, best on val; model=resnet20"
SGD = [90.0, 90.1, 89.9]
SAM = [91.0, 91.1, 90.9]


# ---------------------------------------------------------------- equal compute
@pytest.mark.parametrize(
    ("longer", "survives"),
    [([90.2, 90.3, 90.1], True), ([91.0, 91.2, 90.9], False)],
)
def test_a_two_pass_method_is_also_compared_with_sgd_at_equal_compute(tmp_path, longer, survives):
    trials(tmp_path, "sgd/weight_decay=0.001", SGD)
    trials(tmp_path, "sam/rho=0.05", SAM, step_rule="sam")
    trials(tmp_path, "sgd-2x/weight_decay=0.001", longer, epochs=20)  # 200 steps × 1 = 100 × 2
    report = build_report([tmp_path], test="welch")  # these trials differ by constants per seed
    (comparison, _) = report.comparisons  # the 10-epoch table, and the 20-epoch one
    sam = comparison.rows[1]
    assert sam.compute_ratio == 2.0
    assert sam.equal is not None and sam.equal.baseline.config["epochs"] == 20
    standard, equal = welch(SAM, SGD), welch(SAM, longer)
    assert sam.equal.difference == equal
    # Holm over both comparisons of the table
    assert [sam.holm_p, sam.equal.holm_p] == pytest.approx(holm([standard.p, equal.p]))
    text = to_markdown(report)
    (_, row) = table(text, GRID)
    assert row["equal-compute baseline"] == "sgd, 20 epochs"
    assert row["Δ max at equal compute [95% CI]"].startswith(f"{equal.delta:+.2f} [")
    said = "the gain survives at equal compute." if survives else "the gain does not survive"
    assert said in text
    assert "sgd + sam rho=0.05 is better than the SGD baseline at this scale" in text
    assert "the same 200 gradient evaluations" in text


def test_without_an_equal_compute_baseline_the_verdict_says_so(tmp_path):
    trials(tmp_path, "sgd/weight_decay=0.001", SGD)
    trials(tmp_path, "sam/rho=0.05", SAM, step_rule="sam")
    text = to_markdown(build_report([tmp_path]))
    (_, row) = table(text, GRID)
    assert row["equal-compute baseline"] == "none among the runs"
    assert "It took 2× the gradient evaluations of the SGD baseline" in text
    assert "whether it holds at equal compute is not measured" in text


def test_a_one_pass_method_has_no_equal_compute_columns(tmp_path):
    trials(tmp_path, "sgd/weight_decay=0.001", SGD)
    trials(tmp_path, "flood/flood=0.02", [90.5, 90.4, 90.6], flood=0.02)
    trials(tmp_path, "sgd-2x/weight_decay=0.001", SGD, epochs=20)
    text = to_markdown(build_report([tmp_path]))
    assert "equal compute" not in text.split("## All configurations")[0]


# ---------------------------------------------------------------- the right baseline
def test_a_regularized_optimizer_is_compared_with_its_own_plain_form(tmp_path):
    trials(tmp_path, "sgd/weight_decay=0.001", SGD)
    trials(tmp_path, "adamw/weight_decay=0.01", [88.0, 88.2, 87.9], optimizer="adamw")
    agr = [88.6, 88.8, 88.5]
    trials(tmp_path, "adamw+agr/weight_decay=0.01", agr, optimizer="adamw", grad_transform="agr")
    adan = [87.0, 87.5, 87.2]
    trials(tmp_path, "adan+agr/weight_decay=0.02", adan, optimizer="adan", grad_transform="agr")
    report = build_report([tmp_path], test="welch")
    (comparison,) = report.comparisons
    against = {r.configuration.label: r.versus.baseline.label for r in comparison.rows[1:]}
    assert against == {"adamw": "sgd", "adamw + agr": "adamw", "adan + agr": "sgd"}
    adamw_agr = next(r for r in comparison.rows if r.configuration.label == "adamw + agr")
    assert adamw_agr.difference == welch(agr, [88.0, 88.2, 87.9])
    ps = [r.difference.p for r in comparison.rows[1:]]
    assert [r.holm_p for r in comparison.rows[1:]] == pytest.approx(holm(ps))
    text = to_markdown(report)
    shown = {r["method"]: r["against"] for r in table(text, GRID)}
    assert shown == {"sgd": "", **against}
    assert "adamw + agr is better than the adamw baseline at this scale" in text
    frame = pd.read_csv(write_report(report, tmp_path / "out")[1])
    assert frame.set_index("method")["baseline"]["adamw + agr"] == "adamw"


# ---------------------------------------------------------------- cost
def _paced(run: Path, seconds: list[float], images: int = 1000) -> None:
    """Rewrite a run's epochs with these training seconds and ``images`` images per epoch."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for record, s in zip(records, seconds, strict=True):
        record.update(epoch_seconds=s, images_per_second=images / s)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_cost_columns_are_measured_from_the_records(tmp_path, capsys):
    paces = [[2.0, 2.2, 40.0, 2.1], [3.0, 3.0, 3.0, 3.0], [5.0, 5.0, 4.0, 6.0]]  # a pause in one
    for seed, seconds in enumerate(paces):
        run = write_run(
            tmp_path, f"sam/seed={seed}", flat_curve(90.0, 4), seed=seed, step_rule="sam"
        )
        _paced(run, seconds, images=1000 + seed)
    report = build_report([tmp_path], cost=True)
    (sam,) = report.configurations
    assert sam.cost.epoch_seconds == 3.0  # the median of the runs' medians 2.15, 3.0, 5.0
    assert sam.cost.images == 4 * 1001  # the median run's 4 epochs of round(rate × seconds)
    assert (sam.cost.evaluations_per_step, sam.cost.evaluations) == (2, 2 * 40)  # 40 steps
    (row,) = table(to_markdown(report), "All configurations")
    assert (row["grad evals/step"], row["images"]) == ("2", "4,004")
    assert (row["s/epoch"], row["grad evals"]) == ("3.00", "80")
    assert "grad evals" not in to_markdown(build_report([tmp_path]))  # only with --cost


def test_cost_of_records_without_a_pace_is_unknown(tmp_path):
    run = write_run(tmp_path, "r", [50.0, 60.0])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        del record["images_per_second"], record["epoch_seconds"]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (configuration,) = build_report([tmp_path], cost=True).configurations
    assert configuration.cost.images is None and math.isnan(configuration.cost.epoch_seconds)
    (row,) = table(to_markdown(build_report([tmp_path], cost=True)), "All configurations")
    assert (row["images"], row["s/epoch"], row["grad evals"]) == ("?", "?", "20")


# ---------------------------------------------------------------- how sure a choice is
@pytest.mark.parametrize(
    ("runner_up", "verdict"),
    [
        ([89.9, 90.1], "within the noise, a rerun could choose another."),
        ([88.9, 89.1], "beyond the noise."),
        ([89.9], "noise cannot be estimated from the grid (one seed per configuration)."),
    ],
)
def test_a_choice_says_its_margin_beside_the_seed_noise(tmp_path, runner_up, verdict):
    winner = [90.0, 90.4] if len(runner_up) == 2 else [90.2]
    trials(tmp_path, "sgd/weight_decay=0.001", winner, weight_decay=1e-3)
    trials(tmp_path, "sgd/weight_decay=0.0001", runner_up, weight_decay=1e-4)
    text = to_markdown(build_report([tmp_path]))
    margin = sum(winner) / len(winner) - sum(runner_up) / len(runner_up)
    line = f"- sgd: weight_decay=0.001 over weight_decay=0.0001 by {margin:.2f} points"
    assert line in text
    after = text.split(line, 1)[1].splitlines()[0]
    assert after.endswith(verdict)
    if len(runner_up) == 2:
        sd, df = pooled_sd([winner, runner_up])
        assert f"seed-to-seed SD {sd:.2f} (pooled over 2 configurations, {df} df)" in after
        assert f"standard error {sd:.2f}" in after  # sd · sqrt(1/2 + 1/2)


@pytest.mark.parametrize(
    ("finals", "edge"),
    [
        ({1e-2: 89.0, 1e-3: 90.0, 1e-4: 89.5}, None),  # inside the grid
        ({1e-2: 89.0, 1e-3: 89.5, 1e-4: 90.0}, "weight_decay=0.0001 is the lowest searched"),
        ({1e-2: 90.0, 1e-3: 89.5, 1e-4: 89.0}, "weight_decay=0.01 is the highest searched"),
        ({1e-2: 89.0, 1e-3: 90.0}, None),  # two values: no inside, so no edge to speak of
    ],
)
def test_a_choice_at_the_end_of_its_grid_says_so(tmp_path, finals, edge):
    for weight_decay, final in finals.items():
        trials(tmp_path, f"sgd/weight_decay={weight_decay}", [final], weight_decay=weight_decay)
    text = to_markdown(build_report([tmp_path]))
    (line,) = [x for x in text.splitlines() if x.startswith("- sgd: weight_decay=")]
    if edge is None:
        assert "edge" not in line
    else:
        assert line.endswith(
            f"At the edge of its grid: {edge}, so a value beyond it was not tried."
        )
    chosen = [r for r in csv_records(build_report([tmp_path])) if r["searched"]]
    expected = "" if edge is None else edge.split(" is the ")[0] + " " + edge.split()[3]
    assert [r["selection_edges"] for r in chosen] == [expected]  # report.csv's column


def test_a_value_beyond_the_winner_that_diverged_was_tried_so_no_edge(tmp_path):
    for weight_decay, final in {1e-4: 89.0, 1e-3: 89.5, 1e-2: 90.0}.items():
        trials(tmp_path, f"sgd/weight_decay={weight_decay}", [final], weight_decay=weight_decay)
    write_run(tmp_path, "sgd/weight_decay=0.1/seed=0", [10.0] * 10, status="diverged",
              weight_decay=0.1)  # fmt: skip
    text = to_markdown(build_report([tmp_path]))
    (line,) = [x for x in text.splitlines() if x.startswith("- sgd: ")]
    assert line.startswith("- sgd: weight_decay=0.01 over") and "edge" not in line


def test_a_setting_that_varies_without_being_searched_is_no_axis(tmp_path):
    """Runs pooled from recipes with another val_start: val_start is no grid axis."""
    runs = {0.8: (1e-4, 89.0), 0.95: (1e-3, 90.0), 0.9: (1e-2, 89.5)}  # the winner: 0.95, 1e-3
    for val_start, (wd, final) in runs.items():
        trials(tmp_path, f"sgd/v{val_start}", [final], weight_decay=wd, val_start=val_start)
    text = to_markdown(build_report([tmp_path]))
    (line,) = [x for x in text.splitlines() if x.startswith("- sgd: ")]
    assert "edge" not in line


def test_a_confirmation_says_the_smallest_difference_it_could_detect(tmp_path):
    sgd, smooth = [90.0, 90.2, 90.1, 89.9, 90.3], [90.4, 90.9, 90.6, 90.5, 91.0]
    trials(tmp_path, "sgd/weight_decay=0.001", [90.0], weight_decay=1e-3)
    trials(tmp_path, "smooth/b=0.5", [90.5], anneal="laplace", b=0.5)
    for seed, (a, b) in enumerate(zip(sgd, smooth, strict=True), start=100):
        write_run(tmp_path, f"confirm/sgd/weight_decay=0.001/seed={seed}", flat_curve(a, 10),
                  seed=seed, weight_decay=1e-3)  # fmt: skip
        write_run(tmp_path, f"confirm/smooth/b=0.5/seed={seed}", flat_curve(b, 10), seed=seed,
                  anneal="laplace", b=0.5)  # fmt: skip
    sd, _ = pooled_sd([sgd, smooth])
    smallest = detectable_difference(sd, 5, 5)
    verdict = verdict_of(tmp_path, test="welch")
    assert (
        f"Smallest difference this confirmation could detect: {smallest:.2f} points (two-sided "
        f"t-test, α = 0.05, power 0.8; seed-to-seed SD {sd:.2f} pooled over its 2 "
        "configurations; trials per side 5 vs 5)."
    ) in verdict
    # paired over the seeds both sides ran (the default): the SD of the per-seed differences
    gaps = [b - a for a, b in zip(sgd, smooth, strict=True)]
    sd_gaps, _ = pooled_sd([gaps])
    smallest = detectable_paired_difference(sd_gaps, 5)
    assert (
        f"Smallest difference this confirmation could detect: {smallest:.2f} points (two-sided "
        f"paired t-test, α = 0.05, power 0.8; SD of the per-seed differences {sd_gaps:.2f} "
        "pooled over its 1 comparison; seeds per comparison 5)."
    ) in verdict_of(tmp_path)
    text = to_markdown(build_report([tmp_path]))
    assert "Smallest difference" not in text.split("## Against", 1)[1]  # the grid: no line


def confirmed(root: Path, folder: str, finals: list[float], seeds=range(100, 200), **fields):
    """Confirmation runs ``root/confirm/folder/seed=<n>``, one per final accuracy, and the
    configuration's one grid run (seed 0), so the report reads a two-stage sweep."""
    trials(root, folder, [finals[0]], **fields)
    for seed, final in zip(seeds, finals, strict=False):
        write_run(root, f"confirm/{folder}/seed={seed}", flat_curve(final, 10), seed=seed,
                  **fields)  # fmt: skip


def test_differences_are_paired_over_shared_seeds_and_welch_where_seeds_differ(tmp_path):
    """At one seed every method draws the same images: a confirmation pairs the trials by
    seed; a side whose seeds differ from its baseline's is tested unpaired, and the note names
    that comparison; the grid, chosen on its own seeds, stays Welch's."""
    sgd = [90.0, 91.0, 89.0, 90.5]
    smooth = [90.4, 91.6, 89.3, 91.1]  # each seed's run 0.3-0.6 above SGD's
    confirmed(tmp_path, "sgd/weight_decay=0.001", sgd)
    confirmed(tmp_path, "smooth/b=0.5", smooth, anneal="laplace", b=0.5)
    confirmed(tmp_path, "flood/flood=0.02", [90.6, 90.9, 89.8], seeds=(107, 108, 109), flood=0.02)
    report = build_report([tmp_path])
    verdict_table, grid_table = report.comparisons
    rows = {r.configuration.label: r for r in verdict_table.rows}
    smoothed = rows["sgd + smoothing global+local laplace b=0.5 alpha=1"].difference
    assert smoothed == paired(smooth, sgd) and smoothed.test == "paired"
    assert smoothed.p < 0.01 < welch(smooth, sgd).p  # the pairing removes the seeds' spread
    flood = rows["sgd + flood=0.02"].difference
    assert flood == welch([90.6, 90.9, 89.8], sgd) and flood.test == "welch"
    assert {r.difference.test for r in grid_table.rows if r.difference} == {"welch"}
    text = to_markdown(report)
    verdict = text.split("## Verdict: confirmation runs", 1)[1].split("\n## ", 1)[0]
    assert "p: the paired t-test on the per-seed differences" in verdict
    assert (
        "Welch's t-test (unequal variances) where the seeds do not match one to one "
        "(sgd + flood=0.02 against sgd)" in verdict
    )
    assert f"paired p = {smoothed.p:.3f}" in verdict and "Welch p = " in verdict
    grid = text.split("## Against", 1)[1].split("\n## ", 1)[0]
    assert "p: Welch's t-test (unequal variances);" in grid
    _, csv_path = write_report(report, tmp_path / "out")
    frame = pd.read_csv(csv_path)
    frame = frame[frame["stage"] == "confirm"].set_index("method")
    assert frame["test"]["sgd + flood=0.02"] == "welch"
    assert frame["test"]["sgd + smoothing global+local laplace b=0.5 alpha=1"] == "paired"
    # --test welch: every row unpaired
    unpaired = build_report([tmp_path], test="welch").comparisons[0].rows
    assert {r.difference.test for r in unpaired if r.difference} == {"welch"}


def test_cli_test_option_is_checked(tmp_path, capsys):
    from tests.cli import invoke

    trials(tmp_path, "sgd/weight_decay=0.001", SGD)
    result = invoke(["report", str(tmp_path), "--test", "pairs"], capsys)
    assert result.exit_code == 2
    assert "test" in result.output and "paired, welch" in result.output
    assert not (tmp_path / "report.md").exists()


@pytest.mark.parametrize("done", [0, 3, 5])
def test_an_unfinished_confirmation_says_so_before_its_numbers(tmp_path, done):
    trials(tmp_path, "sgd/weight_decay=0.001", [90.0])
    trials(tmp_path, "sam/rho=0.05", [90.5], step_rule="sam")
    for seed in range(100, 105):
        write_run(tmp_path, f"confirm/sgd/weight_decay=0.001/seed={seed}", flat_curve(90.0, 10),
                  seed=seed)  # fmt: skip
        # SAM's seeds past `done` are still training (an epoch in, no summary yet)
        write_run(tmp_path, f"confirm/sam/rho=0.05/seed={seed}", flat_curve(90.4, 10 if
                  seed < 100 + done else 1), seed=seed, step_rule="sam", epochs=10,
                  status="completed" if seed < 100 + done else "running")  # fmt: skip
    record = {"recipe": "t", "seeds": [100, 101, 102, 103, 104], "groups": []}
    (tmp_path / "confirm" / "selection.json").write_text(json.dumps(record))
    text = to_markdown(build_report([tmp_path]))
    verdict = text.split("## Verdict: confirmation runs", 1)[1].split("\n## ", 1)[0]
    line = (
        "**Unfinished**: the sweep planned 5 fresh seeds per winner (selection.json); completed "
        f"so far: sam {done}. The numbers of this table are provisional until the confirmation "
        "is complete."
    )
    assert (line in verdict) == (done < 5)
    header = text.split("\n## ", 1)[0]  # before any table
    assert ("**The confirmation is unfinished**" in header) == (done < 5)
    assert "Unfinished" not in text.split("## Against", 1)[1]  # the grid never says it


@pytest.mark.parametrize("last", ["running", "failed", "diverged", "completed"])
def test_a_grid_cut_short_says_so_before_its_numbers(tmp_path, last):
    """The sweep's plan (plans/<recipe>.json) names the grid it set out to train: while a
    planned run is not final (completed or diverged), each best is chosen among fewer
    configurations than the recipe searches, and the report says so, per variant."""
    trials(tmp_path, "sgd/weight_decay=0.001", [90.0], weight_decay=1e-3)
    trials(tmp_path, "sgd/weight_decay=0.01", [89.0], weight_decay=1e-2)
    trials(tmp_path, "sam/rho=0.05", [90.5], step_rule="sam", rho=0.05)
    write_run(tmp_path, "sam/rho=0.1/seed=0", flat_curve(90.2, 10 if last != "running" else 2),
              epochs=10, step_rule="sam", rho=0.1, status=last)  # fmt: skip
    planned = ["sgd/weight_decay=0.001", "sgd/weight_decay=0.01", "sam/rho=0.05", "sam/rho=0.1"]
    write_plan(tmp_path, "t", [(f"{name}/seed=0", name.split("/")[0]) for name in planned])
    header = to_markdown(build_report([tmp_path])).split("\n## ", 1)[0]
    line = (
        "**The grid is unfinished**: 3 of the 4 grid runs that the sweep t planned are final "
        "(plans/t.json; final of planned per variant: sgd 2 of 2, sam 1 of 2)."
    )
    assert (line in header) == (last in ("running", "failed"))
    (tmp_path / "plans" / "t.json").write_text("{not json")  # damaged: no claim either way
    assert "unfinished" not in to_markdown(build_report([tmp_path])).lower()


def test_a_diverged_seed_is_final_and_a_winner_without_runs_is_not(tmp_path):
    """A diverged confirmation run is final (listed, not counted): the confirmation is
    finished. A winner the sweep chose that has no run here yet leaves it unfinished."""
    trials(tmp_path, "sgd/weight_decay=0.001", [90.0])
    for seed in range(100, 103):
        write_run(tmp_path, f"confirm/sgd/weight_decay=0.001/seed={seed}", flat_curve(90.0, 10),
                  seed=seed, status="diverged" if seed == 102 else "completed")  # fmt: skip
    groups = [{"variant": "sgd", "winner": "sgd/weight_decay=0.001"}]
    record = {"recipe": "t", "seeds": [100, 101, 102], "groups": groups}
    (tmp_path / "confirm" / "selection.json").write_text(json.dumps(record))
    assert "unfinished" not in to_markdown(build_report([tmp_path])).lower()
    groups.append({"variant": "sam", "winner": "sam/rho=0.05"})
    (tmp_path / "confirm" / "selection.json").write_text(json.dumps(record))
    header = to_markdown(build_report([tmp_path])).split("\n## ", 1)[0]
    assert "**The confirmation is unfinished**" in header


def test_a_grid_whose_winners_wait_for_their_confirmation_says_so(tmp_path):
    """The sweep wrote selection.json when the grid finished; until a confirmation run is
    here, the grid's one-draw tables must not read as the verdict."""
    trials(tmp_path, "sgd/weight_decay=0.001", [90.0])
    trials(tmp_path, "sam/rho=0.05", [90.5], step_rule="sam")
    assert "confirmation" not in to_markdown(build_report([tmp_path])).lower()
    groups = [{"variant": v, "winner": w} for v, w in (("sgd", "sgd/weight_decay=0.001"),
                                                         ("sam", "sam/rho=0.05"))]  # fmt: skip
    record = {"recipe": "t", "seeds": [100, 101, 102, 103, 104], "groups": groups}
    (tmp_path / "confirm").mkdir()
    (tmp_path / "confirm" / "selection.json").write_text(json.dumps(record))
    header = to_markdown(build_report([tmp_path])).split("\n## ", 1)[0]
    assert (
        "**The confirmation has not started**: the sweep chose 2 winners to run again on 5 "
        "fresh seeds each (selection.json), and none of those runs is here yet."
    ) in header
    write_run(tmp_path, "confirm/sgd/weight_decay=0.001/seed=100", flat_curve(90.0, 10), seed=100)
    header = to_markdown(build_report([tmp_path])).split("\n## ", 1)[0]
    assert "has not started" not in header and "**The confirmation is unfinished**" in header


def test_declared_contrasts_join_the_verdicts_holm_family(tmp_path):
    """F-GR against B-GR as the recipe declared: paired over the two confirmed winners' seeds,
    Holm over the table's baseline comparisons and the contrast, a table and a sentence of its
    own; a declared pair the table already compares is not counted twice, and one no table can
    test is listed with why."""
    sgd = [90.0, 90.2, 90.1, 89.9, 90.3]
    forward = [91.0, 91.3, 91.1, 90.9, 91.2]
    backward = [90.1, 90.4, 90.0, 90.2, 90.3]
    runs = {"sgd/weight_decay=0.001": ({}, sgd)}
    runs["gr-forward/gr_gamma=0.01"] = ({"step_rule": "gr-forward", "gr_gamma": 0.01}, forward)
    runs["gr-backward/gr_gamma=0.01"] = ({"step_rule": "gr-backward", "gr_gamma": 0.01}, backward)
    for name, (fields, finals) in runs.items():
        trials(tmp_path, name, [finals[0]], **fields)  # the grid
        for seed, final in enumerate(finals, start=100):
            write_run(tmp_path, f"confirm/{name}/seed={seed}", flat_curve(final, 10), seed=seed,
                      **fields)  # fmt: skip
    declared = [["gr-forward", "gr-backward"], ["sgd", "gr-forward"], ["gr-forward", "sam"]]
    record = {"recipe": "t", "groups": [], "contrasts": declared}
    (tmp_path / "confirm" / "selection.json").write_text(json.dumps(record))
    report = build_report([tmp_path])
    verdict_table = report.comparisons[0]
    (contrast,) = verdict_table.contrasts
    assert contrast.configuration.variant == "gr-forward"
    assert contrast.versus.baseline.variant == "gr-backward"
    assert contrast.versus.difference == paired(forward, backward)  # the same seeds 100-104
    tests = [paired(forward, sgd).p, paired(backward, sgd).p, paired(forward, backward).p]
    adjusted = holm(tests)
    assert contrast.versus.holm_p == pytest.approx(adjusted[2])
    assert sorted(r.holm_p for r in verdict_table.rows[1:]) == pytest.approx(sorted(adjusted[:2]))
    text = to_markdown(report)
    assert (
        "Holm: adjusted over 3 comparisons: 2 in this table and 1 declared head-to-head below"
        in text
    )
    (row,) = table(text, "Head to head, as the recipe declared")
    assert row["variant"].startswith("gr-forward (") and row["against"].startswith("gr-backward (")
    assert row["p (Holm)"] == p_value(adjusted[2])
    untested = {r["pair"]: r["why"] for r in table(text, "Declared head-to-head comparisons")}
    assert untested == {
        "sgd against gr-forward": "the verdict table already compares them (a variant and its "
        "own baseline)",
        "gr-forward against sam": "no completed confirmation run of sam among these runs",
    }
    head = text.split("## Head to head", 1)[1].split("\n## ", 1)[0]
    assert "gr-forward (" in head and "is better than gr-backward (" in head
    write_report(report, tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "report.csv")
    (forward_row,) = csv[
        (csv["variant"] == "gr-forward") & (csv["stage"] == "confirm")
    ].itertuples()
    assert forward_row.contrasts.startswith("gr-backward: +")
    # no declaration, no contrast: the same runs without selection.json's key
    (tmp_path / "confirm" / "selection.json").write_text(json.dumps({"groups": []}))
    assert build_report([tmp_path]).comparisons[0].contrasts == []


@pytest.mark.parametrize(
    ("n", "effect"),
    [(20, 0.9091), (64, 0.4991), (5, 2.0244)],  # Cohen's d at power 0.8 (G*Power's values)
)
def test_detectable_difference_matches_the_textbook(n, effect):
    assert detectable_difference(1.0, n, n) == pytest.approx(effect, abs=2e-4)
    assert detectable_difference(2.5, n, n) == pytest.approx(2.5 * effect, abs=5e-4)


def test_detectable_difference_tends_to_the_normal_approximation():
    z = 1.959963984540054 + 0.8416212335729143  # z_0.975 + z_0.8
    n = 20_000
    assert detectable_difference(1.0, n, n) == pytest.approx(z * math.sqrt(2 / n), rel=1e-3)
    assert math.isnan(detectable_difference(1.0, 1, 5))
    assert math.isnan(detectable_difference(math.nan, 5, 5))


def test_pooled_sd_by_hand():
    sd, df = pooled_sd([[1.0, 2.0, 3.0], [5.0, 7.0], [4.0]])  # squares 2 + 2 over 2 + 1 df
    assert (sd, df) == (pytest.approx(math.sqrt(4 / 3)), 3)
    assert math.isnan(pooled_sd([[1.0], [2.0]])[0])


@pytest.mark.parametrize(
    ("p", "text"), [(0.0004, "< 0.001"), (0.001, "= 0.001"), (0.031, "= 0.031"), (1.0, "= 1.000")]
)
def test_a_sentence_writes_a_tiny_p_as_an_inequality(p, text):
    """A verdict sentence writes "p < 0.001", never "p = <0.001" (tables keep "<0.001")."""
    assert p_equals(p) == text

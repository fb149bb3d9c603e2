"""rsmooth report: grouping, selection on a split, comparisons with tuned SGD, confirmation
runs, the paper's tables and their protocol checks, the formats, the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsmooth.errors import ConfigError, RsmoothError
from rsmooth.identity import method_label, normalize
from rsmooth.report import build_report, to_markdown, write_report
from rsmooth.report.aggregate import group_runs
from rsmooth.report.paper import published
from rsmooth.report.stats import welch
from rsmooth.runfolder import read_run, read_runs
from tests.cli import invoke
from tests.fixtures import (
    config_dict,
    flat_curve,
    metrics_lines,
    summary_dict,
    write_run,
    write_trials,
)

T975_DF2 = 4.302652729749752  # t_{0.975, 2}, textbook 4.3027


# ---------------------------------------------------------------- reading and numbers
HEAD = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
CURVES = [HEAD + [91.0, 90.5, 90.0], HEAD + [92.0, 91.0, 91.5], HEAD + [90.0, 90.5, 89.0]]


def test_numbers_recomputed_by_hand(tmp_path):
    write_trials(tmp_path, "sgd", CURVES)  # 12 epochs: "mean" is over the last ceil(1.2) = 2
    (configuration,) = group_runs(read_runs([tmp_path]))
    assert configuration.values("max") == [91.0, 92.0, 90.5]
    assert configuration.values("mean") == [90.25, 91.25, 89.75]
    std = math.sqrt(7 / 12)  # deviations -1/6, 5/6, -2/3 from the mean, over n - 1 = 2
    for metric, mean in (("max", 273.5 / 3), ("mean", 271.25 / 3)):
        stats = configuration.stats(metric)
        assert stats.n == 3
        assert stats.mean == pytest.approx(mean, abs=1e-12)
        assert stats.std == pytest.approx(std, abs=1e-12)
        assert stats.ci95 == pytest.approx(T975_DF2 * std / math.sqrt(3), abs=1e-9)
    report = build_report([tmp_path])
    assert f"{273.5 / 3:.2f} ± {T975_DF2 * std / math.sqrt(3):.2f}" in to_markdown(report)


def test_mean_uses_integer_ceil_of_ten_percent(tmp_path):
    # 0.1 * 30 is 3.0000000000000004 in floats: a float ceil would average 4 epochs, not 3.
    curve = [float(e) for e in range(1, 31)]
    run = read_run(write_run(tmp_path, "r", curve))
    assert run.metric("mean") == pytest.approx((28 + 29 + 30) / 3)
    assert run.metric("max") == 30.0


def test_seeds_and_engine_fields_group_into_one_configuration(tmp_path):
    write_run(tmp_path, "a", [80.0, 81.0], seed=0, device="cpu", num_threads=2)
    write_run(
        tmp_path,
        "b",
        [82.0, 83.0],
        seed=1,
        device="cuda",
        precision="bf16",
        channels_last=True,
        eval_batch_size=500,
        data_dir="/data",
        download=True,
    )
    write_run(tmp_path, "c", [84.0, 85.0], seed=2, b=0.3)  # b is unused without smoothing
    write_run(tmp_path, "d", [70.0, 71.0], seed=0, weight_decay=1e-4)
    write_run(tmp_path, "e", [70.0, 71.0], seed=0, anneal="laplace", b=0.3)
    write_run(tmp_path, "f", [70.0, 71.0], seed=1, anneal="laplace", b=0.5)
    configurations = group_runs(read_runs([tmp_path]))
    sizes = sorted((c.label, c.config["weight_decay"], c.n) for c in configurations)
    assert sizes == [
        ("sgd", 0.0001, 1),
        ("sgd", 0.001, 3),
        ("sgd + smoothing global+local laplace b=0.3 alpha=1", 0.001, 1),
        ("sgd + smoothing global+local laplace b=0.5 alpha=1", 0.001, 1),
    ]
    (sgd,) = [c for c in configurations if c.n == 3]
    assert sgd.seeds == [0, 1, 2]


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({}, "sgd"),
        ({"optimizer": "adam"}, "adam"),
        ({"nesterov": True}, "sgd"),  # an optimizer setting: a column where it varies
        ({"label_smoothing": 0.1}, "sgd + label-smoothing eps=0.1"),
        ({"anneal": "logistic", "b": 0.25}, "sgd + smoothing global+local logistic b=0.25 alpha=1"),
        ({"anneal": "laplace", "scheme": "global"}, "sgd + smoothing global laplace b=0.5 alpha=0"),
        ({"anneal": "constant", "s0": 0.5}, "sgd + smoothing local s0=0.5 alpha=1"),
        ({"step_rule": "sam", "rho": 0.1}, "sgd + sam rho=0.1"),
        ({"step_rule": "gr-forward"}, "sgd + gr-forward γ=0.01 ε=0.01"),
        ({"step_rule": "gr-db", "gr_gamma": 0.1}, "sgd + gr-db γ=0.1"),
        ({"optimizer": "adamw", "grad_transform": "agr"}, "adamw + agr"),
        ({"flood": 0.02}, "sgd + flood=0.02"),
        ({"loss": "ce", "optimizer": "adan"}, "adan (ce)"),
    ],
)
def test_method_labels(fields, label):
    assert method_label(normalize(config_dict(**fields))) == label


# ---------------------------------------------------------------- incomplete runs
def _mixed_folder(root: Path) -> None:
    write_trials(root, "sgd", [flat_curve(90.0, 10), flat_curve(91.0, 10)])
    write_run(root, "sgd/seed7", [50.0, 60.0, 70.0], seed=7, epochs=10, status="running")
    write_run(
        root,
        "sgd/seed8",
        [50.0, float("nan")],
        seed=8,
        epochs=10,
        status="diverged",
        error="loss is nan at step 12",
    )
    write_run(
        root,
        "sgd/seed9",
        [50.0],
        seed=9,
        epochs=10,
        status="failed",
        error="RuntimeError: CUDA out of memory\ntraceback...",
    )
    (root / "broken-yaml").mkdir()
    (root / "broken-yaml" / "config.yaml").write_text("model: [resnet20\n")
    (root / "not-a-mapping").mkdir()
    (root / "not-a-mapping" / "config.yaml").write_text("- 1\n- 2\n")
    corrupt = write_run(root, "corrupt-middle", flat_curve(90.0, 10), seed=3)
    lines = (corrupt / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines[4] = lines[4][:20] + "\n"
    (corrupt / "metrics.jsonl").write_text("".join(lines))
    no_metrics = write_run(root, "just-started", [], seed=4, epochs=10, status="running")
    (no_metrics / "metrics.jsonl").unlink()


def test_incomplete_diverged_failed_unreadable_are_listed_not_counted(tmp_path):
    _mixed_folder(tmp_path)
    report = build_report([tmp_path])
    statuses = {r.path.name: (r.status, r.reason) for r in report.runs}
    assert statuses["seed7"] == ("running", "3/10 epochs")
    assert statuses["seed8"] == ("diverged", "loss is nan at step 12")
    assert statuses["seed9"] == ("failed", "RuntimeError: CUDA out of memory")
    assert statuses["broken-yaml"][0] == "unreadable"
    assert statuses["not-a-mapping"][0] == "unreadable"
    assert statuses["corrupt-middle"] == ("unreadable", "metrics.jsonl line 5: not JSON")
    assert statuses["just-started"] == ("running", "0/10 epochs")
    (sgd,) = [c for c in report.configurations if c.n > 0]
    assert sgd.n == 2 and sgd.stats("mean").mean == pytest.approx(90.5)
    text = to_markdown(report)
    assert "## Runs not counted (2 running, 1 diverged, 1 failed, 3 unreadable)" in text
    for name in ("sgd/seed7", "sgd/seed8", "sgd/seed9", "broken-yaml", "corrupt-middle"):
        assert f"| {name} |" in text


def test_summary_without_all_lines_or_still_running_is_not_completed(tmp_path):
    run = write_run(tmp_path, "r", flat_curve(90.0, 10))
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:-1]))  # summary says completed
    assert read_run(run).status == "running"
    (run / "metrics.jsonl").write_text("".join(lines))
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(dict(summary, status="running")))
    assert read_run(run).status == "running"
    (run / "summary.json").unlink()  # logs copied without a summary: judged by the metrics
    assert read_run(run).status == "completed"


def test_every_prefix_of_a_run_being_written_is_whole_or_absent(tmp_path):
    """Read at any byte of the writing sequence, a run never shows partial numbers."""
    curve = [71.5, 80.25, 79.0, 83.125]
    cfg = config_dict(epochs=4)
    config_text = yaml.safe_dump(cfg, sort_keys=False)
    metrics_text = "".join(metrics_lines(curve))
    run = tmp_path / "run"
    run.mkdir()
    for cut in range(len(config_text) + 1):  # config.yaml being written, nothing else yet
        (run / "config.yaml").write_text(config_text[:cut])
        assert read_run(run).status in ("running", "unreadable")
    for cut in range(len(metrics_text) + 1):
        (run / "metrics.jsonl").write_text(metrics_text[:cut])
        done = metrics_text[:cut].count("\n")
        for status in ("running", "completed"):
            summary = summary_dict(cfg, curve[:done], status)
            (run / "summary.json").write_text(json.dumps(summary))
            read = read_run(run)
            if read.status == "completed":
                assert cut >= len(metrics_text) - 1  # only the trailing newline may be missing
                assert read.metric("max") == 83.125
                assert read.metric("mean") == 83.125
            else:
                assert read.status == "running"
                assert [r["val_acc"] for r in read.metrics] == curve[: len(read.metrics)]


def test_report_while_a_run_is_being_written(tmp_path):
    write_trials(tmp_path, "sgd", [flat_curve(90.0, 4), flat_curve(91.0, 4)])
    curve = [60.0, 70.0, 80.0, 92.0]
    cfg = config_dict(epochs=4, seed=2)
    run = tmp_path / "sgd" / "seed2"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    text = "".join(metrics_lines(curve))
    done = threading.Event()

    def writer() -> None:
        with open(run / "metrics.jsonl", "w") as handle:
            for i in range(0, len(text), 7):
                handle.write(text[i : i + 7])
                handle.flush()
        (run / "summary.json").write_text(json.dumps(summary_dict(cfg, curve, "completed")))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    while True:
        finished = done.is_set()
        report = build_report([tmp_path])
        (sgd,) = report.configurations
        seen.add(sgd.n)
        assert sgd.n in (2, 3)
        expected = [90.0, 91.0, 92.0][: sgd.n]
        assert sorted(sgd.values("max")) == expected  # flat_curve's max is its final value
        to_markdown(report)
        if finished:
            break
    thread.join()
    assert 3 in seen


# ---------------------------------------------------------------- generic table, significance
def _table_rows(text: str, title: str) -> list[dict[str, str]]:
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, [c.strip() for c in line.strip("|").split("|")], strict=True))
        for line in lines[2:]
    ]


def _significance_folder(root: Path) -> None:
    def trials(name, finals, **fields):
        write_trials(root, name, [flat_curve(f, 10) for f in finals], **fields)

    trials("sgd-best", [90.0, 90.1, 89.9], weight_decay=1e-3)
    trials("sgd-worse", [89.0, 89.3, 88.9], weight_decay=1e-4)
    trials("sam", [91.0, 91.1, 90.9], step_rule="sam")
    trials("flood", [90.05, 89.8, 90.2], flood=0.02)
    trials("cifar-sgd", [70.0, 70.2], data="cifar10", epochs=10)
    trials("cifar-adam", [60.0, 61.0], data="cifar10", optimizer="adam", epochs=10)
    trials("svhn-adam", [95.0, 95.5], data="svhn", optimizer="adam", epochs=10)


def test_the_flood_levels_of_a_grid_are_one_method_whose_best_level_is_chosen(tmp_path):
    """A flood level is a grid value like SAM's rho: the levels are searched as one method
    (schema 1 spelled the level in the kind, and each level was a method of its own)."""
    _significance_folder(tmp_path)
    write_trials(tmp_path, "flood-high", [flat_curve(f, 10) for f in (89.0, 89.2)], flood=0.1)
    text = to_markdown(build_report([tmp_path], test="welch"))
    rows = _table_rows(text, "Against tuned SGD (grid, best on val; model=resnet20")
    assert [(r["method"], r["searched"]) for r in rows] == [
        ("sgd", "2"),
        ("sgd + flood=0.02", "2"),
        ("sgd + sam rho=0.05", "1"),
    ]


def test_comparison_tables_give_the_interval_of_each_difference(tmp_path):
    _significance_folder(tmp_path)
    report = build_report([tmp_path], test="welch")  # the unpaired test on every row
    # Table 1 gets the F-MNIST SGD rows; sam, flood and resnet20 on CIFAR/SVHN fit no paper row.
    assert [(t.id, [r.method for r in t.rows]) for t in report.tables] == [("table1", ["SGD"] * 2)]
    text = to_markdown(report)
    title = "Against tuned SGD (grid, best on val; model=resnet20, data=fashion-mnist"
    rows = _table_rows(text, title)
    assert [r["method"] for r in rows] == ["sgd", "sgd + flood=0.02", "sgd + sam rho=0.05"]
    assert rows[0]["Δ max [95% CI]"] == "baseline"
    assert rows[0]["searched"] == "2"  # two SGD weight decays: the better one is the baseline
    expected = welch([91.0, 91.1, 90.9], [90.0, 90.1, 89.9])
    sam = rows[2]
    assert sam["Δ max [95% CI]"] == (f"+1.00 [{expected.low:+.2f}, {expected.high:+.2f}]")
    assert sam["p"] == ("<0.001" if expected.p < 0.001 else f"{expected.p:.3f}")
    flood = welch([90.05, 89.8, 90.2], [90.0, 90.1, 89.9])
    holm_sam = min(1.0, 2 * expected.p)  # the smaller of the two p-values, times 2
    assert sam["p (Holm)"] == ("<0.001" if holm_sam < 0.001 else f"{holm_sam:.3f}")
    assert float(rows[1]["p (Holm)"]) == pytest.approx(max(holm_sam, flood.p), abs=1e-3)
    assert "sgd + sam rho=0.05 is better than tuned SGD at this scale: +1.00 ±" in text
    assert "sgd + flood=0.02 is not distinguishable from tuned SGD" in text
    cifar = _table_rows(
        text, "Against the SGD baseline (grid, best on val; model=resnet20, data=cifar10"
    )
    assert [r["method"] for r in cifar] == ["sgd", "adam"]
    assert cifar[1]["Δ max [95% CI]"].startswith("-9.60 [")
    assert "data=svhn" not in text.split("## All configurations")[0]  # no SGD run on svhn


def test_csv_has_one_row_per_configuration(tmp_path):
    _significance_folder(tmp_path)
    report = build_report([tmp_path], test="welch")
    _, csv_path = write_report(report, tmp_path / "out")
    frame = pd.read_csv(csv_path)
    assert len(frame) == len(report.configurations) == 7
    for column in (
        "method",
        "stage",
        "model",
        "data",
        "subset",
        "weight_decay",
        "n",
        "max_mean",
        "max_std",
        "max_ci95",
        "mean_mean",
        "holdout_max_mean",
        "select",
        "baseline",
        "searched",
        "delta",
        "delta_low",
        "delta_high",
        "p",
        "p_holm",
        "test",
        "seeds",
        "max_values",
        "running",
        "diverged",
        "failed",
        "unreadable",
        "runs",
    ):
        assert column in frame.columns
    assert "seed" not in frame.columns and "device" not in frame.columns
    sam = frame[frame["method"] == "sgd + sam rho=0.05"].iloc[0]
    assert sam["max_mean"] == pytest.approx(91.0)
    assert sam["max_std"] == pytest.approx(0.1)
    expected = welch([91.0, 91.1, 90.9], [90.0, 90.1, 89.9])
    assert (sam["delta_low"], sam["p"]) == (pytest.approx(expected.low), pytest.approx(expected.p))
    assert sam["seeds"] == "0;1;2" and sam["searched"] == 1


# ---------------------------------------------------------------- paper layouts
def _trials(root, name, finals, bonus=0.25, epochs=10, **fields):
    write_trials(root, name, [flat_curve(f, epochs, bonus) for f in finals], **fields)


FIVE = [0.0, 0.1, 0.2, 0.1, 0.0]  # five trials, as the paper's protocol has


def _five(final: float) -> list[float]:
    return [final + d for d in FIVE]  # mean: final + 0.08


def _table1_folder(root: Path, epochs: int = 48, trials: int = 5) -> None:
    def five(name: str, final: float, **fields: object) -> None:
        _trials(root, name, _five(final)[:trials], epochs=epochs, **fields)

    five("sgd-1e-2", 88.0, weight_decay=1e-2)
    five("sgd-1e-3", 93.0, weight_decay=1e-3)
    five("g-lap-0.1", 93.1, anneal="laplace", scheme="global", b=0.1)
    five("g-lap-0.5", 93.5, anneal="laplace", scheme="global", b=0.5)
    five("gl-log-a1", 93.6, anneal="logistic", b=0.3, alpha=1.0)
    five("gl-log-a2", 93.9, anneal="logistic", b=0.3, alpha=2.0)


def test_table1_best_of_grid_and_paper_differences(tmp_path):
    _table1_folder(tmp_path)
    report = build_report([tmp_path], paper=True)
    (table,) = report.tables
    assert table.id == "table1"
    got = [(r.method, r.details) for r in table.rows]
    assert got == [
        ("SGD", "wd=0.01"),
        ("SGD", "wd=0.001"),
        ("global laplace", "b=0.5 alpha=0 wd=0.001 (best of 2)"),
        ("global+local logistic", "b=0.3 alpha=2 wd=0.001 (best of 2)"),
    ]
    rows = _table_rows(to_markdown(report), "Table 1: ResNet20, Fashion-MNIST")
    paper = {
        (r["method"], r.get("weight_decay"), r.get("scheme"), r.get("anneal")): r
        for r in published()["table1"]["rows"]
    }
    # max = final + 0.08 (the trials' mean) + 0.25 (flat_curve's peak one epoch before the end)
    sgd = paper[("sgd", 1e-3, None, None)]
    assert rows[1]["max"].startswith("93.33 ± ")
    assert rows[1]["paper max"] == f"{sgd['max']:.2f}"
    assert rows[1]["Δ max"] == f"{93.33 - sgd['max']:+.2f}"
    assert rows[1]["differs from the paper"] == ""  # the protocol: Δ is shown
    logistic = paper[("smoothing", None, "global+local", "logistic")]
    assert rows[3]["Δ max"] == f"{94.23 - logistic['max']:+.2f}"
    assert rows[3]["n"] == "5"


def test_paper_rows_off_the_protocol_say_how_and_show_no_difference(tmp_path):
    _table1_folder(tmp_path, epochs=10, trials=2)  # a short smoke grid, as a README demo is
    report = build_report([tmp_path], paper=True)
    rows = _table_rows(to_markdown(report), "Table 1: ResNet20, Fashion-MNIST")
    assert all(r["Δ max"] == "—" and r["Δ mean"] == "—" for r in rows)
    assert rows[1]["differs from the paper"] == "epochs 10 (48); trials 2 (5)"
    assert rows[1]["paper max"] != "—"  # the published number is still shown, for reference


def test_table1_without_paper_flag_has_no_published_columns(tmp_path):
    _table1_folder(tmp_path)
    rows = _table_rows(to_markdown(build_report([tmp_path])), "Table 1: ResNet20, Fashion-MNIST")
    assert list(rows[0]) == ["method", "configuration", "n", "max", "mean"]


def test_table2_per_ratio(tmp_path):
    def five(name: str, final: float, **fields: object) -> None:
        _trials(tmp_path, name, _five(final), epochs=48, **fields)

    for ratio in (0.5, 0.125):
        five(f"{ratio}/sgd", 90.0, subset=ratio, weight_decay=1e-3)
        five(f"{ratio}/sgd-4", 89.0, subset=ratio, weight_decay=1e-4)
        for b, final in ((0.9, 90.5), (1.1, 90.9)):
            five(f"{ratio}/lap{b}", final, subset=ratio, anneal="laplace", b=b)
        five(f"{ratio}/log", 90.6, subset=ratio, anneal="logistic", b=0.5)
    five("0.5/global", 99.0, subset=0.5, anneal="laplace", scheme="global")
    report = build_report([tmp_path], paper=True)
    (table,) = report.tables
    assert table.id == "table2"
    got = [(r.where["ratio"], r.method, r.details) for r in table.rows]
    assert got == [
        (0.5, "SGD", "wd=0.001"),
        (0.5, "SGD", "wd=0.0001"),
        (0.5, "global+local laplace", "b=1.1 alpha=1 wd=0.001 (best of 2)"),
        (0.5, "global+local logistic", "b=0.5 alpha=1 wd=0.001"),
        (0.125, "SGD", "wd=0.001"),
        (0.125, "SGD", "wd=0.0001"),
        (0.125, "global+local laplace", "b=1.1 alpha=1 wd=0.001 (best of 2)"),
        (0.125, "global+local logistic", "b=0.5 alpha=1 wd=0.001"),
    ]
    rows = _table_rows(to_markdown(report), "Table 2: ResNet20, partial Fashion-MNIST")
    assert rows[6]["ratio"] == "0.125"
    assert rows[6]["paper max"] == "90.12"  # Table 2, 1/8, global+local laplace
    assert rows[6]["Δ max"] == f"{91.23 - 90.12:+.2f}"


def test_table3_rows_and_several_layouts_at_once(tmp_path):
    common = {"model": "resnet56", "data": "cifar10", "epochs": 10}
    _trials(tmp_path, "sgd", [92.0, 92.2], **common)
    _trials(tmp_path, "adam", [90.0, 90.2], optimizer="adam", **common)
    _trials(tmp_path, "adagrad", [87.0, 87.2], optimizer="adagrad", **common)
    _trials(tmp_path, "ls", [92.1, 92.3], label_smoothing=0.1, **common)
    _trials(tmp_path, "lap02", [92.4, 92.6], anneal="laplace", b=0.2, **common)
    _trials(tmp_path, "lap05", [92.2, 92.4], anneal="laplace", b=0.5, **common)
    _trials(tmp_path, "log", [92.3, 92.5], anneal="logistic", b=0.25, **common)
    _trials(tmp_path, "sam", [95.0, 95.0], step_rule="sam", **common)  # not a Table 3 row
    _trials(tmp_path, "densenet", [96.0, 96.2], model="densenet-bc-100", data="svhn", epochs=10)
    _trials(tmp_path, "fmnist", [93.0, 93.2], weight_decay=1e-3)  # Table 1 too
    report = build_report([tmp_path], paper=True)
    assert [t.id for t in report.tables] == ["table1", "table3"]
    table3 = report.tables[1]
    got = [(r.where["model"], r.where["data"], r.method, r.details) for r in table3.rows]
    assert got == [
        ("resnet56", "cifar10", "sgd", "lr=0.1 wd=0.0001"),
        ("resnet56", "cifar10", "adam", "lr=0.001 wd=0.0001"),
        ("resnet56", "cifar10", "adagrad", "lr=0.01 wd=0.0001"),
        ("resnet56", "cifar10", "label-smoothing", "eps=0.1 wd=0.0001"),
        ("resnet56", "cifar10", "global+local laplace", "b=0.2 alpha=1 wd=0.0001 (best of 2)"),
        ("resnet56", "cifar10", "global+local logistic", "b=0.25 alpha=1 wd=0.0001"),
        ("densenet-bc-100", "svhn", "sgd", "lr=0.1 wd=0.0001"),
    ]
    text = to_markdown(report)
    rows = _table_rows(text, table3.title)
    # 10 epochs and 2 trials are not the paper's 160 (CIFAR) or 100 (SVHN) and 5: no Δ
    assert rows[1]["paper max"] == "90.50" and rows[1]["Δ max"] == "—"
    assert rows[1]["differs from the paper"] == "epochs 10 (160); trials 2 (5)"
    assert rows[6]["paper mean"] == "96.78" and rows[6]["Δ mean"] == "—"
    assert rows[6]["differs from the paper"] == "epochs 10 (100); trials 2 (5)"
    assert "## All configurations" in text  # every configuration, sam included
    assert "sgd + sam rho=0.05" in text.split("## All configurations")[1]


def test_another_loss_is_not_a_paper_table(tmp_path):
    """The relatives' recipes (cross-entropy, SGD/AdamW, no smoothing) at the paper's model,
    data and fraction are another experiment; the same runs on the paper's loss (mse) are its
    Table 2 with the smoothing rows still to come."""
    for loss in ("ce", "mse"):
        _trials(tmp_path / loss, "sgd", [90.0, 90.2], loss=loss, subset=0.125)
        _trials(tmp_path / loss, "adamw", [88.0, 88.2], loss=loss, subset=0.125, optimizer="adamw")
    assert build_report([tmp_path / "ce"]).tables == []
    (table,) = build_report([tmp_path / "mse"]).tables
    assert (table.id, [r.method for r in table.rows]) == ("table2", ["SGD"])


def test_different_protocols_make_separate_tables(tmp_path):
    _trials(tmp_path, "short", [90.0, 90.2], epochs=4)
    _trials(tmp_path, "long", [93.0, 93.2], epochs=10)
    titles = [t.title for t in build_report([tmp_path]).tables]
    assert len(titles) == 2 and all("epochs=" in t for t in titles)


# ---------------------------------------------------------------- CLI
def test_cli_report_writes_markdown_and_csv(tmp_path, capsys):
    _table1_folder(tmp_path / "runs")
    result = invoke(["report", str(tmp_path / "runs"), "--paper"], capsys)
    assert result.exit_code == 0, result.output
    assert "## Table 1: ResNet20, Fashion-MNIST" in result.output
    assert "paper max" in result.output
    written = (tmp_path / "runs" / "report.md").read_text()
    assert "## All configurations" in written
    assert len(pd.read_csv(tmp_path / "runs" / "report.csv")) == 6


def test_cli_report_out_and_metric(tmp_path, capsys):
    _table1_folder(tmp_path / "runs")
    result = invoke(
        ["report", str(tmp_path / "runs"), "--metric", "mean", "--out", str(tmp_path / "o")], capsys
    )
    assert result.exit_code == 0, result.output
    assert "Δ mean [95% CI]" in result.output
    assert (tmp_path / "o" / "report.csv").is_file()
    assert not (tmp_path / "runs" / "report.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "median"], "invalid metric"),
        (["MISSING"], "invalid DIR"),
        (["EMPTY"], "no run folders"),
    ],
)
def test_cli_report_user_errors_exit_2(tmp_path, args, message, capsys):
    (tmp_path / "EMPTY").mkdir()
    _table1_folder(tmp_path / "runs")
    argv = ["report"] + [str(tmp_path / a) if a.isupper() else a for a in args]
    if args[0].startswith("--"):
        argv.insert(1, str(tmp_path / "runs"))
    result = invoke(argv, capsys)
    assert result.exit_code == 2
    assert message in result.output


def test_build_report_errors():
    with pytest.raises(ConfigError):
        build_report([Path(".")], metric="median")
    with pytest.raises(RsmoothError):
        build_report([Path("/nonexistent-rsmooth-runs")])


@pytest.mark.parametrize(
    ("fmt_", "needle"),
    [("md", "## Against tuned SGD"), ("csv", "delta_low"), ("latex", r"\begin{tabular}")],
)
def test_cli_report_formats(tmp_path, capsys, fmt_, needle):
    _significance_folder(tmp_path / "runs")
    result = invoke(["report", tmp_path / "runs", "--format", fmt_, "--interval", "std"], capsys)
    assert result.exit_code == 0, result.output
    assert needle in result.stdout
    written = {p.name for p in (tmp_path / "runs").iterdir() if p.name.startswith("report.")}
    assert written == ({"report.md", "report.csv"} | ({"report.tex"} if fmt_ == "latex" else set()))


def test_interval_std_shows_the_standard_deviation(tmp_path):
    _significance_folder(tmp_path)
    text = to_markdown(build_report([tmp_path], interval="std"))
    assert "± one std" in text
    rows = _table_rows(text, "All configurations")
    sam = next(r for r in rows if r["method"] == "sgd + sam rho=0.05")
    assert sam["max"] == "91.00 ± 0.10"  # trials 91.0, 91.1, 90.9: sample std 0.1


# ---------------------------------------------------------------- selection and confirmation
def _selection_folder(root: Path) -> None:
    """A grid where the test split and the held-out split disagree on the best weight decay:
    wd 1e-3 leads on the test split (val), wd 1e-4 on the held-out split (holdout)."""
    for wd, val, held in ((1e-3, 90.6, 88.0), (1e-4, 90.2, 89.0)):
        for seed, jitter in enumerate((0.0, 0.1)):
            run = write_run(
                root,
                f"sgd/weight_decay={wd!r}/seed={seed}",
                flat_curve(val + jitter, 10),
                seed=seed,
                weight_decay=wd,
                holdout=0.1,
            )
            _add_holdout(run, held + jitter)


def _add_holdout(run: Path, accuracy: float) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        record.update(holdout_loss=0.3, holdout_acc=accuracy)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_selection_on_holdout_picks_another_winner_than_on_val(tmp_path):
    _selection_folder(tmp_path)
    on_val = build_report([tmp_path], select="val")
    on_holdout = build_report([tmp_path], select="holdout")
    (val_table,) = on_val.comparisons
    (holdout_table,) = on_holdout.comparisons
    assert val_table.baseline.config["weight_decay"] == 1e-3
    assert holdout_table.baseline.config["weight_decay"] == 1e-4
    # the reported number is the test split's, whatever chose the configuration
    assert holdout_table.baseline.stats("max").mean == pytest.approx(90.2 + 0.05)
    text = to_markdown(on_holdout)
    assert "chosen on **holdout**: the held-out part of each run's training set" in text
    assert "the paper's protocol" in to_markdown(on_val)


def test_confirmation_runs_are_the_headline_with_the_grid_searched_count(tmp_path):
    _selection_folder(tmp_path)
    for variant, wd, finals in (
        ("sgd", 1e-4, [90.0, 90.2, 90.1]),
        ("smooth", 1e-3, [90.9, 91.1, 91.0]),
    ):
        fields = {"anneal": "logistic"} if variant == "smooth" else {}
        for seed, final in zip((100, 101, 102), finals, strict=True):
            write_run(
                tmp_path,
                f"confirm/{variant}/weight_decay={wd!r}/seed={seed}",
                flat_curve(final, 10),
                seed=seed,
                weight_decay=wd,
                holdout=0.1,
                **fields,
            )
    for seed in (0, 1):  # the smoothing grid: one configuration
        run = write_run(
            tmp_path,
            f"smooth/weight_decay=0.001/seed={seed}",
            flat_curve(90.0, 10),
            seed=seed,
            anneal="logistic",
            holdout=0.1,
        )
        _add_holdout(run, 88.5)
    report = build_report([tmp_path], select="holdout")
    assert report.confirmed
    headline = report.comparisons[0]
    assert headline.stage == "confirm"
    assert [(r.configuration.label, r.searched) for r in headline.rows] == [
        ("sgd", 2),
        ("sgd + smoothing global+local logistic b=0.5 alpha=1", 1),
    ]
    smooth = headline.rows[1].difference
    assert smooth.delta == pytest.approx(0.9)
    assert smooth.low < 0.9 < smooth.high
    text = to_markdown(report)
    assert text.index("## Verdict: confirmation runs") < text.index("## Against tuned SGD")
    assert "is better than tuned SGD at this scale: +0.90 ±" in text


def _trained_on(run: Path, device: str, precision: str, name: str) -> None:
    summary = json.loads((run / "summary.json").read_text())
    summary["environment"] = {"device": device, "device_name": name, "precision": precision}
    (run / "summary.json").write_text(json.dumps(summary))


def test_runs_of_more_than_one_engine_are_pointed_out(tmp_path):
    runs = write_trials(tmp_path, "sgd", [flat_curve(88.0, 4), flat_curve(89.0, 4)] * 2)
    for run in runs:
        _trained_on(run, "cpu", "fp32", "x86_64")
    assert "more than one engine" not in to_markdown(build_report([tmp_path]))
    _trained_on(runs[0], "cuda", "bf16", "NVIDIA H200")
    text = to_markdown(build_report([tmp_path]))
    assert "**The runs come from more than one engine**: NVIDIA H200 bf16 (1 run), " in text
    assert "cpu fp32 (3 runs)." in text


def test_runs_of_two_cpus_are_pointed_out_by_the_cpus_names(tmp_path):
    """Two CPUs' runs differ only in the CPU's name (an AMX Xeon's bf16 and an AMD EPYC's):
    the line names them, where one CPU's report keeps the short label."""
    runs = write_trials(tmp_path, "sgd", [flat_curve(88.0, 4), flat_curve(89.0, 4)] * 2)
    for run in runs:
        _trained_on(run, "cpu", "bf16", "AMD EPYC, AVX512-BF16")
    assert "more than one engine" not in to_markdown(build_report([tmp_path]))
    _trained_on(runs[0], "cpu", "bf16", "x86_64")  # a record from before the CPU was named
    text = to_markdown(build_report([tmp_path]))
    assert (
        "**The runs come from more than one engine**: cpu (AMD EPYC, AVX512-BF16) bf16 "
        "(3 runs), cpu (x86_64) bf16 (1 run)."
    ) in text


# ---------------------------------------------------------------- results are data
REPO = Path(__file__).resolve().parents[1]
TORCH_FREE = """
import sys
from pathlib import Path

import rsmooth.export.records, rsmooth.export.tensorboard, rsmooth.plot.curves
import rsmooth.plot.sweep, rsmooth.report, rsmooth.runfolder
from rsmooth.cli import main
from rsmooth.plot.curves import plot_curves
from rsmooth.report import build_report, to_markdown
from rsmooth.report.aggregate import group_runs

root = Path(sys.argv[1])
text = to_markdown(build_report([root], cost=True, select="val"))
assert "sgd + sam rho=0.05" in text and "grad evals/step" in text, text
plot_curves(group_runs(rsmooth.runfolder.read_results([root])), root.parent / "fig")
for command in (
    ["report", str(root), "--out", str(root.parent / "out"), "--format", "latex"],
    ["export", "records", str(root), "--out", str(root.parent / "records")],
):
    try:
        main(command)
    except SystemExit as done:
        assert done.code == 0, (command, done.code)
sys.exit(9 if "torch" in sys.modules else 0)
"""


def test_report_plot_and_export_of_runs_with_their_method_block_import_no_torch(tmp_path):
    _significance_folder(tmp_path / "runs")
    _trained_on(write_run(tmp_path / "runs", "x/seed=0", [80.0, 81.0]), "cpu", "fp32", "x86_64")
    for summary_path in (tmp_path / "runs" / "flood").glob("*/summary.json"):
        summary = json.loads(summary_path.read_text())  # as rsmooth wrote it before schema 2:
        summary["method"].update(schema=1, kind="sgd + flood=0.02")  # upgraded without torch
        summary_path.write_text(json.dumps(summary))
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(tmp_path / "runs")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "fig" / "curves-resnet20.png").is_file()
    assert (tmp_path / "out" / "report.tex").is_file()
    assert (tmp_path / "records" / "x" / "seed=0" / "summary.json").is_file()


@pytest.fixture
def runs_in_cwd(tmp_path, monkeypatch):
    """The test's folder as the current one: commands name runs/ as a doc does."""
    monkeypatch.chdir(tmp_path)


def test_markdown_on_stdout_is_the_report_and_the_same_every_time(tmp_path, capsys, runs_in_cwd):
    _significance_folder(tmp_path / "runs")
    argv = ["report", "runs", "--format", "md", "--cost", "--out"]
    first = invoke([*argv, tmp_path / "a"], capsys)
    second = invoke([*argv, tmp_path / "b"], capsys)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout == (tmp_path / "a" / "report.md").read_text()
    assert first.stdout.startswith("# rsmooth report\n") and "wrote" not in first.stdout
    assert first.stderr.startswith("wrote ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_report_into_a_read_only_default_folder_is_one_line(tmp_path, capsys):
    _significance_folder(tmp_path / "runs")
    (tmp_path / "runs").chmod(0o555)
    try:
        result = invoke(["report", tmp_path / "runs"], capsys)
    finally:
        (tmp_path / "runs").chmod(0o755)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"rsmooth: error: cannot write the report into {tmp_path / 'runs'} (not writable); "
        "choose another folder with --out DIR\n"
    )


def test_a_report_that_cannot_be_written_is_one_line_and_prints_nothing(tmp_path, capsys):
    """The write itself fails (here report.md is a folder: root cannot write it either)."""
    _significance_folder(tmp_path / "runs")
    (tmp_path / "runs" / "report.md").mkdir()
    result = invoke(["report", tmp_path / "runs"], capsys)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"rsmooth: error: cannot write the report into {tmp_path / 'runs'} (report.md: "
    )
    assert result.stderr.endswith("choose another folder with --out DIR\n")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "runs" / "report.csv").exists()
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.endswith(".tmp")]


def test_a_run_of_another_recipe_in_a_sweep_folder_is_left_out_as_foreign(tmp_path):
    _selection_folder(tmp_path)
    stray = write_run(
        tmp_path, "sgd/weight_decay=0.001/seed=7", flat_curve(99.0, 10), seed=7, weight_decay=0.01
    )
    report = build_report([tmp_path])
    assert next(r for r in report.runs if r.path == stray).status == "foreign"
    assert all(stray not in [r.path for r in c.runs] for c in report.configurations)
    assert max(c.stats("max").mean for c in report.configurations) < 91.0  # 99 is not pooled
    text = to_markdown(report)
    assert "**1 run left out as foreign**" in text
    rows = _table_rows(text, "Runs not counted (1 foreign)")
    assert rows == [
        {
            "run": "sgd/weight_decay=0.001/seed=7",
            "status": "foreign",
            "why": "its folder says weight_decay=0.001, its config.yaml says weight_decay: 0.01",
        }
    ]


@pytest.mark.parametrize("value", [["resnet20", "resnet56"], {"name": "resnet20"}])
def test_a_config_with_a_list_or_mapping_for_a_value_is_unreadable(tmp_path, value):
    write_trials(tmp_path, "sgd", [flat_curve(90.0, 4), flat_curve(91.0, 4)])
    bad = write_run(tmp_path, "bad", flat_curve(90.0, 4), seed=5)
    config = yaml.safe_load((bad / "config.yaml").read_text())
    (bad / "config.yaml").write_text(yaml.safe_dump(dict(config, model=value)))
    report = build_report([tmp_path])
    assert [c.n for c in report.configurations] == [2]
    text = to_markdown(report)
    assert "**1 run unreadable** (damaged records)" in text
    (row,) = _table_rows(text, "Runs not counted (1 unreadable)")
    assert row["run"] == "bad" and row["why"].startswith("config.yaml: model is ")


def test_runs_of_other_thread_counts_are_pointed_out(tmp_path):
    runs = write_trials(tmp_path, "sgd", [flat_curve(88.0, 4), flat_curve(89.0, 4)])
    for run, threads in zip(runs, (2, 16), strict=True):
        summary = json.loads((run / "summary.json").read_text())
        summary["environment"] = {"device": "cpu", "precision": "fp32", "threads": threads}
        (run / "summary.json").write_text(json.dumps(summary))
    text = to_markdown(build_report([tmp_path]))
    assert (
        "more than one engine**: cpu fp32, 16 threads (1 run), cpu fp32, 2 threads (1 run)" in text
    )

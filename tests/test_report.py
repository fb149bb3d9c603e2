"""rsmooth report: statistics, run reading, grouping, the paper's tables, significance, the CLI."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsmooth.errors import ConfigError, RsmoothError
from rsmooth.report import build_report, to_markdown, write_report
from rsmooth.report.aggregate import group_runs
from rsmooth.report.labels import method_label, normalize
from rsmooth.report.paper import published
from rsmooth.report.stats import (
    regularized_incomplete_beta,
    summarize,
    t_cdf,
    t_quantile,
    welch_test,
)
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


# ---------------------------------------------------------------- statistics
@pytest.mark.parametrize("x", [0.01, 0.2, 0.5, 0.77, 0.999])
def test_incomplete_beta_closed_forms(x):
    assert regularized_incomplete_beta(1, 1, x) == pytest.approx(x, abs=1e-12)
    assert regularized_incomplete_beta(3, 1, x) == pytest.approx(x**3, abs=1e-12)
    assert regularized_incomplete_beta(1, 4, x) == pytest.approx(1 - (1 - x) ** 4, abs=1e-12)
    assert regularized_incomplete_beta(2.5, 2.5, 0.5) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("t", [-7.0, -1.3, 0.0, 0.4, 2.0, 15.0])
def test_t_cdf_closed_forms(t):
    # df 1 is the Cauchy distribution; df 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def _t_pdf(x: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


@pytest.mark.parametrize("df", [5.0, 7.5, 6.98])
@pytest.mark.parametrize("t", [0.7, 2.611])
def test_t_cdf_matches_numerical_integration(df, t):
    steps = 20_000  # Simpson's rule on [0, t], plus the half below 0
    h = t / steps
    total = _t_pdf(0, df) + _t_pdf(t, df)
    total += sum((4 if i % 2 else 2) * _t_pdf(i * h, df) for i in range(1, steps))
    assert t_cdf(t, df) == pytest.approx(0.5 + total * h / 3, abs=1e-9)


@pytest.mark.parametrize(
    ("df", "table"),
    [
        (1, 12.706),
        (2, 4.303),
        (3, 3.182),
        (4, 2.776),
        (5, 2.571),
        (10, 2.228),
        (30, 2.042),
        (120, 1.980),
    ],
)
def test_t_quantile_matches_textbook_table(df, table):
    assert t_quantile(0.975, df) == pytest.approx(table, abs=5e-4)
    assert t_quantile(0.025, df) == pytest.approx(-table, abs=5e-4)


def test_welch_test_by_hand():
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0]
    va, vb = (5 / 3) / 4, 2.5 / 5  # sample variances 5/3 and 5/2, over n
    result = welch_test(a, b)
    assert result.t == pytest.approx((2.5 - 5.0) / math.sqrt(va + vb))
    assert result.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 4))
    assert result.p == pytest.approx(2 * (1 - t_cdf(abs(result.t), result.df)), abs=1e-12)
    assert 0.0349 < result.p < 0.0350  # R: t.test(1:4, 3:7) gives p-value = 0.03494


def test_welch_test_undefined_and_summary_of_one():
    assert welch_test([1.0], [2.0, 3.0]) is None
    assert welch_test([1.0, 1.0], [2.0, 2.0]) is None
    one = summarize([90.0])
    assert (one.n, one.mean) == (1, 90.0) and math.isnan(one.std) and math.isnan(one.ci95)


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


def test_generic_table_marks_significant_differences_from_sgd(tmp_path):
    _significance_folder(tmp_path)
    report = build_report([tmp_path])
    # Table 1 gets the F-MNIST SGD rows; sam, flood and resnet20 on CIFAR/SVHN fit no paper row.
    assert [(t.id, [r.method for r in t.rows]) for t in report.tables] == [("table1", ["SGD"] * 2)]
    text = to_markdown(report)
    rows = _table_rows(text, "All configurations")
    # Only the setting fields that vary; the optimizer is in the label; momentum is unused by
    # Adam (None), so it does not vary.
    assert list(rows[0]) == [
        "method",
        "data",
        "lr",
        "weight_decay",
        "n",
        "max",
        "mean",
        "Δ max vs SGD",
        "p",
    ]
    by = {(r["method"], r["data"], r["weight_decay"]): r for r in rows}
    assert by[("sgd", "fashion-mnist", "0.001")]["Δ max vs SGD"] == "baseline"
    sam = by[("sgd + sam rho=0.05", "fashion-mnist", "0.001")]
    expected = welch_test([91.0, 91.1, 90.9], [90.0, 90.1, 89.9])
    assert sam["Δ max vs SGD"] == "+1.00*"
    assert sam["p"] == ("<0.001" if expected.p < 0.001 else f"{expected.p:.3f}")
    flood = by[("sgd + flood=0.02", "fashion-mnist", "0.001")]
    assert flood["Δ max vs SGD"] == "+0.02" and float(flood["p"]) > 0.05
    assert by[("sgd", "fashion-mnist", "0.0001")]["Δ max vs SGD"].endswith("*")
    assert by[("adam", "cifar10", "0.0001")]["Δ max vs SGD"] == "-9.60*"
    assert by[("sgd", "cifar10", "0.0001")]["Δ max vs SGD"] == "baseline"
    assert by[("adam", "svhn", "0.0001")]["Δ max vs SGD"] == ""  # no SGD run on svhn


def test_csv_has_one_row_per_configuration(tmp_path):
    _significance_folder(tmp_path)
    report = build_report([tmp_path])
    _, csv_path = write_report(report, tmp_path / "out")
    frame = pd.read_csv(csv_path)
    assert len(frame) == len(report.configurations) == 7
    for column in (
        "method",
        "model",
        "data",
        "subset",
        "weight_decay",
        "n",
        "max_mean",
        "max_std",
        "max_ci95",
        "mean_mean",
        "mean_std",
        "mean_ci95",
        "baseline",
        "delta_vs_sgd",
        "p_vs_sgd",
        "significant",
        "seeds",
        "max_values",
        "running",
        "diverged",
        "failed",
        "unreadable",
        "paper_table",
        "runs",
    ):
        assert column in frame.columns
    assert "seed" not in frame.columns and "device" not in frame.columns
    sam = frame[frame["method"] == "sgd + sam rho=0.05"].iloc[0]
    assert sam["max_mean"] == pytest.approx(91.0)
    assert sam["max_std"] == pytest.approx(0.1)
    assert sam["p_vs_sgd"] == pytest.approx(welch_test([91.0, 91.1, 90.9], [90.0, 90.1, 89.9]).p)
    assert bool(sam["significant"]) and sam["seeds"] == "0;1;2"


# ---------------------------------------------------------------- paper layouts
def _trials(root, name, finals, bonus=0.25, epochs=10, **fields):
    write_trials(root, name, [flat_curve(f, epochs, bonus) for f in finals], **fields)


def _table1_folder(root: Path) -> None:
    _trials(root, "sgd-1e-2", [88.0, 88.2], weight_decay=1e-2)
    _trials(root, "sgd-1e-3", [93.0, 93.2], weight_decay=1e-3)
    _trials(root, "g-lap-0.1", [93.1, 93.3], anneal="laplace", scheme="global", b=0.1)
    _trials(root, "g-lap-0.5", [93.5, 93.7], anneal="laplace", scheme="global", b=0.5)
    _trials(root, "gl-log-a1", [93.6, 93.8], anneal="logistic", b=0.3, alpha=1.0)
    _trials(root, "gl-log-a2", [93.9, 94.1], anneal="logistic", b=0.3, alpha=2.0)


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
    # max = final + 0.25 (flat_curve's peak), mean = the final epoch (ceil(10% of 10) = 1)
    sgd = paper[("sgd", 1e-3, None, None)]
    assert rows[1]["max"].startswith("93.35 ± ")
    assert rows[1]["paper max"] == f"{sgd['max']:.2f}"
    assert rows[1]["Δ max"] == f"{93.35 - sgd['max']:+.2f}"
    assert rows[1]["Δ mean"] == f"{93.1 - sgd['mean']:+.2f}"
    logistic = paper[("smoothing", None, "global+local", "logistic")]
    assert rows[3]["Δ max"] == f"{94.25 - logistic['max']:+.2f}"
    assert rows[3]["n"] == "2"


def test_table1_without_paper_flag_has_no_published_columns(tmp_path):
    _table1_folder(tmp_path)
    rows = _table_rows(to_markdown(build_report([tmp_path])), "Table 1: ResNet20, Fashion-MNIST")
    assert list(rows[0]) == ["method", "configuration", "n", "max", "mean"]


def test_table2_per_ratio(tmp_path):
    for ratio in (0.5, 0.125):
        _trials(tmp_path, f"{ratio}/sgd", [90.0, 90.4], subset=ratio, weight_decay=1e-3)
        _trials(tmp_path, f"{ratio}/sgd-4", [89.0, 89.4], subset=ratio, weight_decay=1e-4)
        for b, final in ((0.9, 90.5), (1.1, 90.9)):
            _trials(
                tmp_path,
                f"{ratio}/lap{b}",
                [final, final + 0.2],
                subset=ratio,
                anneal="laplace",
                b=b,
            )
        _trials(tmp_path, f"{ratio}/log", [90.6, 90.8], subset=ratio, anneal="logistic", b=0.5)
    _trials(tmp_path, "0.5/global", [99.0, 99.0], subset=0.5, anneal="laplace", scheme="global")
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
    assert rows[6]["Δ max"] == f"{91.25 - 90.12:+.2f}"


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
    assert rows[1]["paper max"] == "90.50" and rows[1]["Δ max"] == f"{90.35 - 90.50:+.2f}"
    assert rows[6]["paper mean"] == "96.78" and rows[6]["Δ mean"] == f"{96.1 - 96.78:+.2f}"
    assert "## All configurations" in text  # every configuration, sam included
    assert "sgd + sam rho=0.05" in text.split("## All configurations")[1]


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
    assert "Δ mean vs SGD" in result.output
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

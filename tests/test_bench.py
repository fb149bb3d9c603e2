"""`rsmooth bench` runs end to end on tiny settings (it measures; nothing here is timed)."""

import json

import pytest

from rsmooth.bench import METHODS, BenchSettings, not_runnable, run_bench, target
from rsmooth.config import RunConfig
from rsmooth.errors import ConfigError
from rsmooth.parts import load_parts, resolve
from tests.cli import invoke


def test_the_bench_times_every_registered_part_of_a_method():
    for changes in METHODS.values():
        resolve(RunConfig(**changes))
    for field in ("loss", "anneal", "grad_transform", "step_rule", "optimizer"):
        registry = load_parts()[field]
        default = RunConfig().to_dict()[field]
        for name in registry.names():
            if registry.module(name).startswith("rsmooth."):  # not a test's own part
                assert name == default or METHODS.get(name) == {field: name}, name
    assert target(METHODS["sam"]) == pytest.approx(2.1) and target(METHODS["agr"]) == 1.05


@pytest.mark.parametrize("data", ["fashion-mnist", "cifar10"])
def test_bench_runs_both_tables(data):
    base = resolve(RunConfig(data=data, batch_size=4, epochs=1, num_threads=1))
    settings = BenchSettings.checked(
        base, methods=["sgd", "logistic", "sam"], steps=1, rounds=2, warmup=1
    )
    result = run_bench(base, settings, progress=lambda text: None)
    assert [row["method"] for row in result["methods"]] == ["sgd", "logistic", "sam"]
    assert result["methods"][0]["ratio_to_sgd"] == 1.0
    for row in result["methods"]:  # the median of the per-round ratios, which are shown too
        per_round = row["ratio_per_round"]
        assert len(per_round) == 2 and min(per_round) <= row["ratio_to_sgd"] <= max(per_round)
    spread = result["engine_speedup_per_round"]
    assert len(spread) == 2 and min(spread) <= result["engine_speedup"] <= max(spread)
    assert all(row["median_step_ms"] > 0 for row in result["methods"])
    assert [row["loop"] for row in result["engine"]] == ["plain loop", "engine"]
    assert result["engine_speedup"] > 0
    assert "| logistic |" in result["markdown"] and "plain PyTorch" in result["markdown"]
    json.dumps({k: v for k, v in result.items() if k != "markdown"})


def test_bench_times_packed_runs_against_separate_ones():
    base = resolve(RunConfig(batch_size=4, epochs=1, num_threads=1))
    settings = BenchSettings.checked(
        base, steps=1, rounds=2, warmup=0, engine=False, methods_table=False, packs=(1, 2)
    )
    result = run_bench(base, settings, progress=lambda text: None)
    assert [row["k"] for row in result["packs"]] == [1, 2]
    for row in result["packs"]:
        per_round = row["packed_over_separate_per_round"]
        assert len(per_round) == 2 and min(per_round) <= row["packed_over_separate"]
        assert row["packed_over_separate"] <= max(per_round) and row["packed_images_per_second"] > 0
    assert "| 2 |" in result["markdown"] and result["methods"] == []


def test_a_default_bench_leaves_out_a_method_whose_package_is_missing(monkeypatch):
    monkeypatch.setattr("rsmooth.methods.optimizers.find_spec", lambda module: None)
    base = resolve(RunConfig(batch_size=4, epochs=1, num_threads=1))
    settings = BenchSettings.checked(base, steps=1, rounds=1, warmup=0, engine=False)
    assert "adan" not in settings.methods and "adamw" in settings.methods
    assert not_runnable(base) == {"adan": "pytorch-optimizer"}
    with pytest.raises(ConfigError, match="needs pytorch-optimizer"):
        BenchSettings.checked(base, methods=["sgd", "adan"])  # named: refused, not skipped


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--methods", "sgd,lion"], "invalid methods: 'lion'"),
        (["--warmup", "-1"], "invalid warmup: -1"),
        (["--steps", "0"], "invalid steps: 0"),
        (["--skip-engine", "--skip-methods"], "nothing to time"),
        (["--batch-size", "100000000"], "invalid batch_size: 100000000"),
        (["--json", ""], "invalid --json: ''"),
        (["--json", "/"], "a file name"),
    ],
)
def test_bench_checks_every_flag_before_timing(capsys, args, needle):
    result = invoke(["bench", *args], capsys)
    assert result.exit_code == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "timing" not in result.stderr  # refused before anything ran

"""`rsmooth bench` runs end to end on tiny settings (it measures; nothing here is timed)."""

import json

import pytest

from rsmooth.bench import METHODS, run_bench
from rsmooth.config import RunConfig
from rsmooth.methods import STEP_RULES


def test_every_bench_method_is_a_valid_config():
    for changes in METHODS.values():
        cfg = RunConfig(**changes).resolve()
        assert cfg.step_rule in STEP_RULES


@pytest.mark.parametrize("data", ["fashion-mnist", "cifar10"])
def test_bench_runs_both_tables(data):
    base = RunConfig(data=data, batch_size=4, epochs=1, num_threads=1).resolve()
    result = run_bench(base, ["sgd", "smoothing", "sam"], steps=1, rounds=2, warmup=1)
    assert [row["method"] for row in result["methods"]] == ["sgd", "smoothing", "sam"]
    assert result["methods"][0]["ratio_to_sgd"] == 1.0
    assert all(row["median_step_ms"] > 0 for row in result["methods"])
    assert [row["loop"] for row in result["engine"]] == ["plain loop", "engine"]
    assert result["engine_speedup"] > 0
    assert "| smoothing |" in result["markdown"] and "plain PyTorch" in result["markdown"]
    json.dumps({k: v for k, v in result.items() if k != "markdown"})


def test_bench_cli_rejects_unknown_methods(capsys):
    from rsmooth.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--methods", "sgd,lion"])
    assert exit_info.value.code == 2
    assert "methods" in capsys.readouterr().err

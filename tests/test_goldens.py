"""The engine against its golden records (tests/goldens.py): every registered part, trained
alone and packed in float64 on the CPU, gives the numbers recorded before the one-engine
redesign, to 1e-10 relative."""

from __future__ import annotations

import json

import pytest

from tests import goldens

GOLDEN = json.loads(goldens.GOLDENS.read_text())["cases"]
CASES = {case.name: case for case in goldens.cases()}


def test_every_registered_part_has_a_golden():
    missing = sorted(set(CASES) - set(GOLDEN))
    assert not missing, f"no golden for {missing}: record them with python -m tests.goldens"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return goldens.data_dir(tmp_path_factory.mktemp("golden-data"))


@pytest.mark.slow
@pytest.mark.parametrize("packed", [False, True], ids=["alone", "packed"])
@pytest.mark.parametrize("name", sorted(set(CASES) & set(GOLDEN)))
def test_the_engine_gives_the_golden_numbers(name, packed, data_dir, tmp_path):
    expected = GOLDEN[name]["packed" if packed else "alone"]
    ours = goldens.train_case(CASES[name], data_dir, tmp_path, packed=packed)
    if packed and not expected:
        pytest.skip(f"{name} did not pack when the goldens were recorded")
    assert len(ours) == len(expected)
    for run, (record, golden) in enumerate(zip(ours, expected, strict=True)):
        problems = goldens.compare(record, golden)
        assert not problems, f"{name} run {run}: " + "; ".join(problems[:5])

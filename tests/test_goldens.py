"""The engine against its golden records (tests/goldens.py), for every registered part: trained
alone and packed in float64 on the CPU, each gives the numbers recorded before the one-engine
redesign (1e-10 relative: machines differ in their CPU instruction sets), and the first run of
the pack gives the numbers of the same run trained alone (1e-11 relative, on this machine; the
pack's second run, with its own seed and hyperparameter, is held to its golden, recorded from a
pack that matched its separate run to 1e-12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import goldens

GOLDEN = json.loads(goldens.GOLDENS.read_text())["cases"]
CASES = {case.name: case for case in goldens.cases()}
# A pack's kernels sum in another order than one run's, and two tiny epochs amplify the last
# bits: packed against alone, the worst case on an AMX Xeon was within 1e-12; on an AMD EPYC
# (AVX512-BF16) it was SAM's at 1.06e-12 (a BN bias's sum, relative to its norm; F-GR 7.0e-13,
# the one-pass rules 1e-14 or less). 1e-11 keeps a tenfold margin below the 1e-10 between machines.
SAME_MACHINE_RTOL = 1e-11


def test_every_registered_part_has_a_golden():
    missing = sorted(set(CASES) - set(GOLDEN))
    assert not missing, f"no golden for {missing}: record them with python -m tests.goldens"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return goldens.data_dir(tmp_path_factory.mktemp("golden-data"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(CASES) & set(GOLDEN)))
def test_the_engine_gives_the_golden_numbers_alone_and_packed(name, data_dir, tmp_path: Path):
    case = CASES[name]
    alone = goldens.train_case(case, data_dir, tmp_path, packed=False)
    _match(alone, GOLDEN[name]["alone"], goldens.RTOL, f"{name} alone vs golden")
    packed = goldens.train_case(case, data_dir, tmp_path, packed=True)
    assert len(packed) == 2, f"{name}: every built-in part packs"
    _match(packed[:1], alone, SAME_MACHINE_RTOL, f"{name} packed vs alone")
    if GOLDEN[name]["packed"]:
        _match(packed, GOLDEN[name]["packed"], goldens.RTOL, f"{name} packed vs golden")
    else:  # gr-db did not pack when the goldens were recorded: its second run trains alone
        second_case = goldens.second_run(CASES[name])
        second = goldens.train_case(second_case, data_dir, tmp_path / "second", packed=False)
        _match(packed[1:], second, SAME_MACHINE_RTOL, f"{name} packed vs alone (run 2)")


def _match(records: list[dict], expected: list[dict], rtol: float, what: str) -> None:
    assert len(records) == len(expected), what
    for run, (record, golden) in enumerate(zip(records, expected, strict=True)):
        problems = goldens.compare(record, golden, rtol)
        assert not problems, f"{what}, run {run}: " + "; ".join(problems[:5])

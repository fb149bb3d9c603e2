"""`rsmooth export records`: a sweep's finished runs into a results tree, records only, never
overwriting a different record (rsmooth/export/records.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsmooth.errors import RsmoothError
from rsmooth.export.records import export_records
from tests.cli import invoke
from tests.fixtures import flat_curve, write_run


def sweep_folder(root: Path) -> Path:
    """Two finished runs (one with a checkpoint beside it), one still running, a choice."""
    done = write_run(root, "sgd/weight_decay=0.001/seed=0", flat_curve(90, 4), weight_decay=1e-3)
    (done / "checkpoint.pt").write_bytes(b"weights")
    (done / "best.pt").write_bytes(b"weights")
    write_run(root, "sgd/weight_decay=0.01/seed=0", flat_curve(89, 4), weight_decay=1e-2)
    write_run(root, "sgd/weight_decay=0.1/seed=0", [50.0], epochs=4, status="running")
    (root / "confirm").mkdir()
    (root / "confirm" / "selection.json").write_text('{"winners": []}\n')
    (root / "plans").mkdir()
    (root / "plans" / "tiny.json").write_text('{"recipe": "tiny", "grid": []}\n')
    return root


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_finished_runs_are_copied_as_records_and_nothing_else(tmp_path):
    source, out = sweep_folder(tmp_path / "sweep"), tmp_path / "results"
    copied = export_records(source, out)
    assert len(copied.runs) == 2 and [r.status for r in copied.skipped] == ["running"]
    assert files(out) == {
        f"sgd/weight_decay={wd}/seed=0/{name}"
        for wd in ("0.001", "0.01")
        for name in ("config.yaml", "metrics.jsonl", "summary.json")
    } | {"confirm/selection.json", "plans/tiny.json"}
    again = export_records(source, out)  # the same records: nothing to do
    assert again.runs == [] and len(again.same) == 2


def test_a_different_record_is_never_overwritten(tmp_path):
    source, out = sweep_folder(tmp_path / "sweep"), tmp_path / "results"
    export_records(source, out)
    changed = out / "sgd/weight_decay=0.01/seed=0/metrics.jsonl"
    changed.write_text(changed.read_text() + "\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(RsmoothError, match="holds a different record"):
        export_records(source, out)
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_a_different_choice_of_winners_is_never_overwritten(tmp_path, capsys):
    source, out = sweep_folder(tmp_path / "sweep"), tmp_path / "results"
    export_records(source, out)
    (out / "confirm" / "selection.json").write_text('{"winners": ["other"]}\n')
    result = invoke(["export", "records", source, "--out", out], capsys)
    assert result.exit_code == 2 and "selection.json holds a different record" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_command_says_what_it_copied_and_left_out(tmp_path, capsys):
    source = sweep_folder(tmp_path / "sweep")
    result = invoke(["export", "records", source, "--out", tmp_path / "results"], capsys)
    assert result.exit_code == 0, result.output
    assert "copied 2 records" in result.stdout and "1 runs not finished" in result.stdout
    assert "left out (not finished)" in result.stderr and "weight_decay=0.1" in result.stderr

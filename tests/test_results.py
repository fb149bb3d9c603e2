"""results/ is data: the committed run records behind the docs, small, complete, and only
records (docs/reproducing.md, "Results are data"); results/README.md names every folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsmooth.runfolder import CONFIG, FINAL, METRICS, PLANS, SUMMARY, find_run_dirs, read_run

RESULTS = Path(__file__).resolve().parents[1] / "results"
BUDGET_BYTES = 20 * 2**20  # clones stay small
ALLOWED = {CONFIG, METRICS, SUMMARY, "selection.json", "README.md"}
# what `rsmooth report DIR` writes into DIR without --out: derived from the records and
# gitignored (.gitignore), so a user who reports a results folder leaves no commit behind
REPORTS = {"report.md", "report.csv", "report.tex"}
RUNS = find_run_dirs([RESULTS]) if RESULTS.is_dir() else []


def test_the_tree_is_small_and_holds_records_only():
    files = [p for p in RESULTS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < BUDGET_BYTES
    strays = sorted(str(p.relative_to(RESULTS)) for p in files if not _a_record(p))
    assert not strays, f"not run records (checkpoints never belong here): {strays}"


def _a_record(path: Path) -> bool:
    """A run's record, a sweep's selection.json, its grid plan (plans/<recipe>.json), or a
    report of an engine folder (not committed)."""
    if path.name in REPORTS and path.parent.parent.parent == RESULTS:  # <recipe>/<engine>/
        return True
    return path.name in ALLOWED or (path.parent.name == PLANS and path.suffix == ".json")


@pytest.mark.parametrize("run", RUNS, ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_record_is_a_whole_finished_run(run: Path):
    assert {p.name for p in run.iterdir()} == {CONFIG, METRICS, SUMMARY}
    found = read_run(run)
    assert found.status in FINAL, (found.status, found.reason)


def test_the_readme_names_every_recipe_and_engine_folder():
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    folders = {run.relative_to(RESULTS).parts[:2] for run in RUNS}
    for recipe, engine in sorted(folders):
        assert f"`{recipe}/{engine}`" in readme, (
            f"results/README.md says nothing of {recipe}/{engine}"
        )

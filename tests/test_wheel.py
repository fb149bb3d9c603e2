"""The wheel carries what a user of an installed rsmooth needs: the shipped recipes resolve by
name from an empty folder, with no checkout anywhere on the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # builds and installs a wheel: about half a minute


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (building in the checkout would leave build/ and
    *.egg-info there); no build isolation: the test needs no network."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "rsmooth", source / "rsmooth", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(dist), str(source)],
        check=True,
    )
    (wheel,) = dist.glob("rsmooth-*.whl")
    return wheel


def test_an_installed_wheel_runs_a_shipped_recipe_by_name_from_an_empty_folder(tmp_path):
    wheel = _build_wheel(tmp_path)
    shipped = sorted(p.name for p in (REPO / "rsmooth" / "recipes").glob("*.yaml"))
    packed = [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("rsmooth/recipes/")]
    assert sorted(n.rsplit("/", 1)[1] for n in packed) == shipped

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        + [str(wheel)],
        check=True,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    where = subprocess.run(
        [sys.executable, "-c", "import rsmooth; print(rsmooth.__file__)"],
        cwd=empty, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(target)  # the wheel's, not the checkout's

    done = subprocess.run(
        [sys.executable, "-m", "rsmooth", "sweep", "quick", "--dry-run"],
        cwd=empty, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sweep quick: 6 runs in runs/quick" in done.stdout
    assert "sgd/seed=0" in done.stdout and "smoothing-logistic/seed=1" in done.stdout
    assert list(empty.iterdir()) == []  # a dry run writes nothing

    listed = subprocess.run(
        [sys.executable, "-m", "rsmooth", "sweep", "--list"],
        cwd=empty, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "table1" in listed.stdout and str(target) in " ".join(listed.stdout.split())

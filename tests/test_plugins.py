"""Plugins (rsmooth.plugins): a module of the user's own parts, named by --plugin, a recipe's
plugins: or config.yaml, or installed under the entry-point group rsmooth.plugins, is imported
by every process before it reads a config. The processes are real ones here (a fresh
interpreter each), since a process imports a module once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsmooth.config import ENGINE_FIELDS, RunConfig
from rsmooth.data.synthetic import write_synthetic
from rsmooth.errors import RecipeError
from rsmooth.plugins import PluginError, load_plugins
from rsmooth.report.labels import config_key
from rsmooth.sweep.recipe import parse_overrides, parse_recipe

REPO = Path(__file__).resolve().parents[1]
LIBRARY_DOC = REPO / "docs" / "library.md"


def doc_block(title: str) -> str:
    """The fenced block of docs/library.md titled ``title`` (```LANG title=NAME)."""
    found = re.search(rf"^```\w+ title={re.escape(title)}\n(.*?)^```", LIBRARY_DOC.read_text(),
                      re.DOTALL | re.MULTILINE)  # fmt: skip
    assert found, f"docs/library.md has no block titled {title}"
    return found.group(1)


def rsmooth(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m rsmooth ARGS`` in a fresh interpreter that imports this checkout's rsmooth."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rsmooth", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A user's folder: the module of docs/library.md, tiny Fashion-MNIST in data/."""
    (tmp_path / "mymodule.py").write_text(doc_block("mymodule.py"))
    write_synthetic("fashion-mnist", tmp_path / "data", 64, 32)
    return tmp_path


TINY = ["--data-dir", "data", "--epochs", "1", "--batch-size", "16", "--device", "cpu"]


# ----------------------------------------------------------------------------- in-process
def test_a_module_that_is_not_there_fails_in_one_line_naming_where_it_looked(tmp_path):
    with pytest.raises(PluginError) as err:
        load_plugins(["no_such_plugin_module"])
    text = str(err.value)
    assert "plugin 'no_such_plugin_module' cannot be imported" in text
    assert "no module 'no_such_plugin_module' in" in text and "\n" not in text


def test_a_plugin_whose_own_import_fails_names_the_missing_dependency(tmp_path, monkeypatch):
    (tmp_path / "needs_a_dependency.py").write_text("import not_installed_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="it imports 'not_installed_dependency_xyz'"):
        load_plugins(["needs_a_dependency"])


def test_plugins_are_written_to_config_yaml_and_are_no_part_of_identity():
    with_plugin = RunConfig(plugins=("mymodule",))
    assert "plugins:\n- mymodule\n" in with_plugin.to_yaml()
    assert RunConfig.from_dict(RunConfig().to_dict()).plugins == ()
    assert "plugins" in ENGINE_FIELDS
    assert config_key(with_plugin.to_dict()) == config_key(RunConfig().to_dict())


def test_plugins_is_a_top_level_recipe_key_only():
    with pytest.raises(RecipeError, match=r"base.plugins \(allowed: at the top of the recipe"):
        parse_recipe({"name": "t", "base": {"plugins": ["x"]}})
    with pytest.raises(RecipeError, match="plugins"):
        parse_overrides(["plugins=x"])
    with pytest.raises(RecipeError, match="recipe.plugins"):
        parse_recipe({"name": "t", "plugins": {"a": 1}})
    with pytest.raises(RecipeError, match="^mine.yaml: plugins: plugin 'no_such_plugin_module'"):
        parse_recipe({"name": "t", "plugins": ["no_such_plugin_module"]}, source="mine.yaml")


# ----------------------------------------------------------------------------- processes
def test_train_flag_config_yaml_and_resume_import_the_plugin(project):
    help_text = rsmooth(["train", "--plugin", "mymodule", "--help"], project)
    assert help_text.returncode == 0, help_text.stderr
    assert "--noise-std" in help_text.stdout and "tiny-cnn" in help_text.stdout

    args = ["train", "--plugin", "mymodule", "--model", "tiny-cnn", "--step-rule", "grad-noise"]
    done = rsmooth([*args, "--noise-std", "0.05", *TINY, "--out", "runs/a", "-q"], project)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((project / "runs/a/config.yaml").read_text())
    assert config["plugins"] == ["mymodule"] and config["noise_std"] == 0.05

    # --resume reads config.yaml's plugins before its fields (noise_std, model tiny-cnn).
    resumed = rsmooth(["train", "--resume", "runs/a"], project)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.startswith("completed: runs/a")

    # Elsewhere the module is not found: one line, exit code 2.
    (project / "elsewhere").mkdir()
    lost = rsmooth(["train", "--resume", "../runs/a"], project / "elsewhere")
    assert lost.returncode == 2
    assert lost.stderr.startswith(
        "rsmooth: error: --resume ../runs/a: plugin 'mymodule' cannot be imported"
    )
    assert lost.stderr.count("\n") == 1


def test_a_ray_worker_imports_the_plugins_its_config_names(project):
    """What a Ray task (or a submitit job) runs, in a fresh interpreter: the config's values
    name the plugin, and building the config imports it."""
    values = {
        "plugins": ["mymodule"],
        "model": "tiny-cnn",
        "step_rule": "grad-noise",
        "noise_std": 0.1,
        "data_dir": "data",
        "epochs": 1,
        "batch_size": 16,
        "device": "cpu",
    }  # not a RunConfig's to_dict(): this process knows the fields other tests declared
    code = (
        "import json, sys; from rsmooth.sweep.jobs import train_task; "
        "print(json.dumps(train_task(json.loads(sys.argv[1]), 'runs/w')[0]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(values)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "completed"


def test_an_installed_plugin_is_loaded_without_being_named(tmp_path):
    """An entry point of group rsmooth.plugins (a distribution's metadata on the path)."""
    site = tmp_path / "site"
    (site / "myparts-1.0.dist-info").mkdir(parents=True)
    (site / "myparts-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: myparts\nVersion: 1.0\n"
    )
    (site / "myparts-1.0.dist-info" / "entry_points.txt").write_text(
        "[rsmooth.plugins]\nmyparts = myparts_registry\n"
    )
    (site / "myparts_registry.py").write_text(doc_block("mymodule.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    done = subprocess.run(
        [sys.executable, "-m", "rsmooth", "train", "--help"],
        cwd=tmp_path, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--noise-std" in done.stdout and "grad-noise" in done.stdout


@pytest.mark.slow  # a sweep of 5 runs in child processes, then a report: about a minute
def test_the_library_doc_plugin_sweeps_and_reports_beside_the_built_ins(project):
    (project / "my-grid.yaml").write_text(doc_block("my-grid.yaml"))
    overrides = ["--set", "data_dir=data", "--set", "epochs=1", "--set", "batch_size=16"]
    swept = rsmooth(["sweep", "my-grid.yaml", "--jobs", "2", "--device", "cpu", *overrides],
                    project, timeout=600)  # fmt: skip
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "5 completed now, 0 failed or diverged" in " ".join(swept.stdout.split())
    config = yaml.safe_load((project / "runs/mine/tiny-noise/noise_std=0.1/seed=0/config.yaml")
                            .read_text())  # fmt: skip
    assert config["plugins"] == ["mymodule"] and config["model"] == "tiny-cnn"

    report = rsmooth(["report", "runs/mine"], project)
    assert report.returncode == 0, report.stderr
    rows = [line for line in report.stdout.splitlines() if line.startswith("| sgd")]
    table = "\n".join(rows)
    for label, model in (
        ("sgd", "resnet20"),
        ("sgd", "tiny-cnn"),
        ("sgd + sam rho=0.05", "tiny-cnn"),
        ("sgd + grad-noise σ=0.01", "tiny-cnn"),
        ("sgd + grad-noise σ=0.1", "tiny-cnn"),
    ):
        assert f"| {label} | {model} |" in table, table

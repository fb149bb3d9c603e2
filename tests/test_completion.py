"""Shell completion through the real entry point (`main` runs the app with
standalone_mode=False; Typer's completion must still answer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli import invoke

REPO = Path(__file__).resolve().parents[1]


def test_show_completion_prints_the_bash_script(capsys, monkeypatch):
    # Typer detects the shell from the process tree, which a detached test run lacks
    monkeypatch.setattr("typer.completion._get_shell_name", lambda: "bash")
    result = invoke(["--show-completion"], capsys)
    assert result.exit_code == 0, result.output
    assert "_RSMOOTH_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _rsmooth_completion rsmooth" in result.stdout


def complete(words: str) -> list[str]:
    """What bash completion offers after ``words`` (the script of --show-completion runs this)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "_RSMOOTH_COMPLETE": "complete_bash"}
    env.update(COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1))
    done = subprocess.run(
        [sys.executable, "-m", "rsmooth"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_options_and_shipped_recipe_names():
    assert complete("rsmooth sw") == ["sweep"]
    assert complete("rsmooth export t") == ["tensorboard"]
    assert complete("rsmooth sweep --exe") == ["--executor"]
    assert complete("rsmooth sweep table2") == ["table2-eighth", "table2-lite", "table2"]

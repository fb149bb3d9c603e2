"""Run the real ``rsmooth`` entry point (rsmooth.cli.main) in-process, as a user's shell would."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rsmooth.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def words(self) -> str:
        """All it printed, whitespace collapsed (a rich table wraps its lines anywhere)."""
        return " ".join(self.output.split())


def invoke(args: list[str], capsys: pytest.CaptureFixture[str]) -> Result:
    """``rsmooth ARGS``: its exit code and what it printed."""
    capsys.readouterr()  # drop what earlier steps of the test printed
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    code = exit_info.value.code
    return Result(code if isinstance(code, int) else 0, captured.out, captured.err)

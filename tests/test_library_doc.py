"""docs/library.md runs: every ```python block is executed, each in a fresh namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "library.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_the_guide_covers_each_part() -> None:
    code = "\n".join(python_blocks())
    for name in (
        "ResidualSmoothingLoss",
        "anneal",
        "agr_",
        "sharpness_aware",
        "gradient_regularization",
        "build_step_rule",
    ):
        assert name in code, f"docs/library.md has no example using {name}"


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_block_runs(index: int) -> None:
    torch.set_num_threads(1)
    source = python_blocks()[index]
    code = compile(source, f"{DOC.name} block {index + 1}", "exec")
    exec(code, {"__name__": f"library_doc_block_{index + 1}"})

"""The repository is self-contained: every § reference resolves to a numbered section of
docs/methods.md, every relative link in the docs points to a file of the repository, and no
text cites a file that is not in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    [
        *REPO.glob("rsmooth/**/*.py"),
        *(p for p in REPO.glob("tests/*.py") if p.name != "test_docs.py"),
        *REPO.glob("docs/*.md"),
        *REPO.glob("rsmooth/recipes/*.yaml"),
        REPO / "README.md",
    ]
)
SECTION = re.compile(r"§(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def methods_sections() -> set[str]:
    return set(HEADING.findall((REPO / "docs" / "methods.md").read_text()))


def test_methods_md_is_numbered():
    sections = methods_sections()
    assert {"1", "1.4", "2", "2.1", "3.2", "4.1", "4.6", "5", "6"} <= sections


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_section_reference_resolves(path: Path):
    sections = methods_sections()
    text = path.read_text(encoding="utf-8")
    dangling = sorted({ref for ref in SECTION.findall(text) if ref not in sections})
    assert not dangling, f"{path.name} cites § {dangling}, not sections of docs/methods.md"
    for outside in ("METHODS.md", "ANCHORS.md", "paper_results.yaml in shared"):
        assert outside not in text.replace("docs/methods.md", ""), f"{path.name}: {outside}"


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p.suffix == ".md"], ids=lambda p: str(p.relative_to(REPO))
)
def test_relative_links_resolve(path: Path):
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    test_command = block[1]
    assert "pytest" in test_command
    assert test_command in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()

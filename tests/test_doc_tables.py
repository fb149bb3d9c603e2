"""The docs' results tables are the output of the commands written beside them
(tests/doc_tables.py): the repository's blocks match, and the machinery that checks and rewrites
them works."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests import doc_tables
from tests.cli import invoke
from tests.doc_tables import END_MARKER, REPO, Block, DocBlockError
from tests.fixtures import flat_curve, write_trials

COMMAND = "rsmooth report runs --metric mean --format md"


def repository_blocks() -> list[Block]:
    """The blocks of the repository's docs; none when a doc is malformed, which
    test_repository_docs_parse reports (an error here would hide every test of this file)."""
    try:
        return doc_tables.find_all_blocks(REPO)
    except DocBlockError:
        return []


def test_repository_docs_parse() -> None:
    for path in doc_tables.doc_paths(REPO):
        doc_tables.find_blocks(path)  # raises, naming file and line, on a malformed doc
    assert REPO / "README.md" in doc_tables.doc_paths(REPO)
    assert REPO / "docs" / "reproducing.md" in doc_tables.doc_paths(REPO)


@pytest.mark.parametrize(
    "block", repository_blocks(), ids=lambda b: f"{b.path.relative_to(REPO)}:{b.line}"
)
def test_doc_block_is_its_commands_output(block: Block) -> None:
    result = doc_tables.BlockCheck(block, doc_tables.run_command(block, REPO))
    assert result.matches, f"{result.problem(REPO)}\n(python -m tests.doc_tables --write)"


@pytest.mark.skipif(
    not any(b.path == REPO / "docs" / "reproducing.md" for b in repository_blocks()),
    reason="docs/reproducing.md has no generated block yet: its typed tables are being replaced "
    "by blocks; the rule holds from the first block on",
)
def test_reproducing_md_has_no_hand_typed_result_table() -> None:
    unmarked = doc_tables.hand_typed_tables(REPO / "docs" / "reproducing.md")
    assert not unmarked, (
        f"docs/reproducing.md: tables at lines {unmarked} are typed by hand: generate them "
        "(tests/doc_tables.py) or mark them <!-- not a result table: WHY --> on the line before"
    )


# The machinery, on a temporary repository: docs/results.md and fixture runs in runs/.


def make_runs(root: Path) -> None:
    write_trials(root / "runs", "sgd", [flat_curve(90.0, 4), flat_curve(91.0, 4)])
    write_trials(
        root / "runs", "smooth", [flat_curve(90.5, 4), flat_curve(91.5, 4)], anneal="logistic"
    )


def report_output(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What COMMAND prints, by the tests' own route to the CLI (tests/cli.py), not the tool's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = invoke([*COMMAND.split()[1:], "--out", str(root / "elsewhere")], capsys)
    assert result.exit_code == 0, result.output
    return result.stdout


def block_text(command: str, body: str) -> str:
    return f"<!-- {command} -->\n\n{body.strip()}\n\n{END_MARKER}\n"


def write_doc(root: Path, text: str) -> Path:
    doc = root / "docs" / "results.md"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    return doc


def listing(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


@pytest.fixture
def generated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A temporary repository whose doc holds one up-to-date block; (the doc, its text)."""
    make_runs(tmp_path)
    text = "# Results\n\nThe table:\n\n" + block_text(COMMAND, report_output(tmp_path, capsys))
    return write_doc(tmp_path, text), text


def test_a_block_that_matches_passes_and_nothing_is_written(generated: tuple[Path, str]) -> None:
    doc, text = generated
    root = doc.parents[1]
    before = listing(root)
    # The caller's Ctrl-C handling survives: rsmooth's main() installs its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    [result] = doc_tables.check(root)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert result.matches and result.diff == "" and result.problem(root) is None
    assert result.block.line == 5 and result.block.command == COMMAND
    assert listing(root) == before  # no report.md in runs/, nothing anywhere
    assert doc_tables.main([], root=root) == 0
    assert doc.read_text(encoding="utf-8") == text


def test_trailing_whitespace_and_outer_blank_lines_do_not_count(
    generated: tuple[Path, str],
) -> None:
    doc, text = generated
    loose = text.replace(" |\n", " |   \n").replace(
        "\n\n# rsmooth report", "\n\n\n# rsmooth report"
    )
    assert loose != text
    doc.write_text(loose, encoding="utf-8")
    [result] = doc_tables.check(doc.parents[1])
    assert result.matches


def test_one_changed_digit_fails_with_a_diff_and_write_restores_it(
    generated: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    doc, text = generated
    root = doc.parents[1]
    row = next(line for line in text.splitlines() if line.startswith("| sgd | 2 |"))
    edited_row = row.replace("90.50", "90.51", 1)
    assert edited_row != row
    doc.write_text(text.replace(row, edited_row), encoding="utf-8")

    [result] = doc_tables.check(root)
    assert not result.matches
    assert f"-{edited_row}" in result.diff.splitlines()
    assert f"+{row}" in result.diff.splitlines()
    capsys.readouterr()
    assert doc_tables.main([], root=root) == 1
    printed = capsys.readouterr().out
    assert "docs/results.md:5: the doc differs" in printed and f"-{edited_row}" in printed

    assert doc_tables.main(["--write"], root=root) == 0
    assert doc.read_text(encoding="utf-8") == text
    assert doc_tables.check(root)[0].matches


def test_write_leaves_an_up_to_date_doc_byte_for_byte(generated: tuple[Path, str]) -> None:
    doc, text = generated
    mtime = doc.stat().st_mtime_ns
    assert doc_tables.main(["--write"], root=doc.parents[1]) == 0
    assert doc.read_text(encoding="utf-8") == text and doc.stat().st_mtime_ns == mtime


def test_write_fills_an_empty_block_and_keeps_the_text_around_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_runs(tmp_path)
    doc = write_doc(tmp_path, f"before\n<!-- {COMMAND} -->\n{END_MARKER}\nafter\n")
    assert doc_tables.main(["--write"], root=tmp_path) == 0
    expected = "before\n" + block_text(COMMAND, report_output(tmp_path, capsys)) + "after\n"
    assert doc.read_text(encoding="utf-8") == expected


def test_a_failing_command_is_reported_with_its_stderr_and_never_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_runs(tmp_path)
    command = "rsmooth report runs --metric median"
    text = block_text(command, "| an old | table |")
    doc = write_doc(tmp_path, text)

    [result] = doc_tables.check(tmp_path)
    assert result.command_failed and not result.matches
    problem = result.problem(tmp_path)
    assert problem is not None
    assert "docs/results.md:1" in problem and "exited 2" in problem
    assert "invalid metric: 'median'" in problem

    capsys.readouterr()
    assert doc_tables.main(["--write"], root=tmp_path) == 1
    assert "invalid metric" in capsys.readouterr().out
    assert doc.read_text(encoding="utf-8") == text


def test_a_commands_own_out_is_kept_and_no_out_means_a_temporary_folder(
    tmp_path: Path,
) -> None:
    make_runs(tmp_path)
    write_doc(tmp_path, block_text(f"{COMMAND} --out reports", "x"))
    doc_tables.check(tmp_path)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["report.csv", "report.md"]
    assert not list((tmp_path / "runs").glob("report.*"))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (f"a\n<!-- {COMMAND} -->\n| x |\n", 2, "has no end marker"),
        (f"<!-- {COMMAND} -->\n\n<!-- {COMMAND} -->\n{END_MARKER}\n", 3, "opened inside"),
        (f"a\n\n{END_MARKER}\n", 3, "without a block"),
        (f"<!-- {COMMAND} -->\n<!-- end rsmooth plot -->\n", 2, "must read"),
        ("<!-- rsmooth plot curves runs -->\n<!-- end rsmooth report -->\n", 1, "only `rsmooth"),
        ("x\n<!-- rsmooth train --epochs 1 -->\n", 2, "cannot generate a block"),
        ("<!-- rsmooth report 'runs -->\n", 1, "cannot split"),
    ],
    ids=["unclosed", "nested", "stray end", "wrong end", "plot", "train", "quote"],
)
def test_a_malformed_doc_is_an_error_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, message: str
) -> None:
    doc = write_doc(tmp_path, text)
    with pytest.raises(DocBlockError, match=message) as error:
        doc_tables.find_blocks(doc)
    assert str(error.value).startswith(f"{doc}:{line}: ")
    assert doc_tables.main([], root=tmp_path) == 2
    assert f"{doc}:{line}: " in capsys.readouterr().err


def test_markers_in_fenced_code_are_examples_not_blocks(tmp_path: Path) -> None:
    doc = write_doc(
        tmp_path,
        f"```\n<!-- rsmooth train -->\n{END_MARKER}\n```\n\n~~~~md\n<!-- {COMMAND} -->\n~~~~\n",
    )
    assert doc_tables.find_blocks(doc) == []
    doc.write_text(f"```\n<!-- rsmooth train -->\n```\n<!-- {COMMAND} -->\n{END_MARKER}\n")
    assert [(b.line, b.command) for b in doc_tables.find_blocks(doc)] == [(4, COMMAND)]


def test_docs_are_the_readme_and_the_docs_folder(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("")
    write_doc(tmp_path, "")
    (tmp_path / "docs" / "notes.txt").write_text("<!-- rsmooth train -->\n")
    assert doc_tables.doc_paths(tmp_path) == [tmp_path / "README.md", tmp_path / "docs/results.md"]


# hand_typed_tables: the rule for docs/reproducing.md.

TABLE = "| a | b |\n| --- | ---: |\n| 1 | 2 |\n"


@pytest.mark.parametrize(
    ("text", "unmarked"),
    [
        (f"intro\n\n{TABLE}", [3]),
        (f"intro\n<!-- not a result table: commands and costs -->\n{TABLE}", []),
        (f"<!-- not a result table: costs -->\n\n{TABLE}", [3]),  # the marker's line is before it
        (f"<!-- not a result table: -->\n{TABLE}", [2]),  # a marker says why
        (f"<!-- not a result table: costs -->\n{TABLE}\ntext\n\n{TABLE}", [8]),
        (block_text(COMMAND, TABLE), []),
        (f"```\n{TABLE}```\n", []),
        (f"```\nx\n```\n{TABLE}", [4]),
        ("a | b\n---\nc\n\n---\n", []),  # a heading underline and a rule are no tables
        ("a | b\n--- | ---\n1 | 2\n", [1]),  # a table without outer pipes is still one
    ],
    ids=[
        "unmarked",
        "marked",
        "marker not adjacent",
        "marker without reason",
        "second unmarked",
        "generated",
        "fenced",
        "after a fence",
        "no table",
        "no outer pipes",
    ],
)
def test_hand_typed_tables(tmp_path: Path, text: str, unmarked: list[int]) -> None:
    assert doc_tables.hand_typed_tables(write_doc(tmp_path, text)) == unmarked

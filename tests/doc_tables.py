"""Results are data: every results table of the docs is the output of a command written beside it.

A generated block in README.md or docs/*.md is an opening HTML comment holding an ``rsmooth``
command, the text that command prints on stdout, and an end marker, each marker on a line of
its own::

    <!-- rsmooth report results/table2-eighth/cpu-bf16 --select holdout --metric mean -->

    ...exactly what the command prints on stdout...

    <!-- end rsmooth report -->

Both comments render as nothing, so a reader sees the table and the source of the page shows
how to regenerate it. The rules:

- The command is run as if typed at the repository root (relative paths resolve there),
  in-process through ``rsmooth.cli.main``; only its stdout is the block's text (the "wrote ..."
  line of ``rsmooth report`` goes to stderr).
- Only ``rsmooth report`` commands may generate a block for now; any other command, a block
  without its end marker, a block opened inside another and an end marker without a block are
  errors naming the file and line.
- ``rsmooth report`` writes report.md and report.csv into its first folder unless ``--out`` is
  given, and the folders a doc cites are the repository's own results, so every command that
  has no ``--out`` of its own is run with ``--out <a temporary folder>`` appended: checking or
  regenerating the docs never writes into the repository (a command's own ``--out`` is used
  as written).
- The doc's text equals the output when they agree line for line after trailing whitespace is
  stripped from each line and blank lines are stripped from both ends; ``--write`` lays a
  block out as above, one blank line inside each marker (so the end marker never reads as a
  table row).
- Markers inside fenced code (```) are examples, not blocks.
- A command that exits non-zero is reported with its stderr; its block is never rewritten.

Beside the blocks, a Markdown table of docs/reproducing.md typed by hand must say it is not a
result, on the line just before its header::

    <!-- not a result table: commands and costs -->

``hand_typed_tables`` finds the tables that say neither (tests/test_doc_tables.py holds the
page to it once the page has a generated block).

Run from the repository root::

    python -m tests.doc_tables            # list the blocks that differ from their output; exit 1
    python -m tests.doc_tables --write    # rewrite every block from its command's output

``--write`` is what a developer runs after new results land; tests/test_doc_tables.py fails
while any block differs. Exit codes: 0 all blocks match (or were written), 1 a block differs or
its command failed, 2 a doc is malformed.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import shlex
import signal
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

OPENER = re.compile(r"<!--\s*(rsmooth(?:\s.*?)?)\s*-->")
END = re.compile(r"<!--\s*end\s+rsmooth\b.*-->")
END_MARKER = "<!-- end rsmooth report -->"
FENCE = re.compile(r"(`{3,}|~{3,})")
NOT_A_RESULT = re.compile(r"<!--\s*not a result table:\s*[^\s-].*-->")  # says why
ALLOWED_COMMAND = ("rsmooth", "report")


class DocBlockError(ValueError):
    """A malformed doc: the message starts with ``path:line:``."""


@dataclass(frozen=True)
class Block:
    """One generated block: where it is and what it holds."""

    path: Path
    line: int  # 1-based line of the opening comment
    command: str  # the command as written, "rsmooth report ..."
    body_start: int  # 0-based index of the first line after the opening comment
    body_end: int  # 0-based index of the end marker
    body: tuple[str, ...]  # the doc's lines between the two markers

    @property
    def text(self) -> str:
        return "\n".join(self.body)

    @property
    def args(self) -> list[str]:
        """What follows ``rsmooth``: the arguments of rsmooth.cli.main."""
        return shlex.split(self.command)[1:]


@dataclass(frozen=True)
class CommandRun:
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class BlockCheck:
    """A block beside its command's current output."""

    block: Block
    run: CommandRun

    @property
    def command_failed(self) -> bool:
        return self.run.exit_code != 0

    @property
    def matches(self) -> bool:
        return not self.command_failed and normalized(self.block.text) == normalized(
            self.run.stdout
        )

    @property
    def diff(self) -> str:
        """The doc's text against the output, unified; empty when they match."""
        if self.matches or self.command_failed:
            return ""
        lines = difflib.unified_diff(
            normalized(self.block.text),
            normalized(self.run.stdout),
            fromfile=f"{self.block.path.name}:{self.block.line} (doc)",
            tofile=f"{self.block.command} (output)",
            lineterm="",
        )
        return "\n".join(lines)

    def problem(self, root: Path = REPO) -> str | None:
        """What is wrong with the block, in words a developer can act on; None when nothing."""
        where = f"{_shown(self.block.path, root)}:{self.block.line}"
        if self.command_failed:
            stderr = self.run.stderr.strip() or "(nothing on stderr)"
            return f"{where}: `{self.block.command}` exited {self.run.exit_code}:\n{stderr}"
        if not self.matches:
            return f"{where}: the doc differs from `{self.block.command}`:\n{self.diff}"
        return None


def normalized(text: str) -> list[str]:
    """Lines without trailing whitespace, blank lines stripped from both ends."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def doc_paths(root: Path = REPO) -> list[Path]:
    """The docs that may hold blocks: README.md and docs/*.md."""
    readme = root / "README.md"
    return [*([readme] if readme.exists() else []), *sorted((root / "docs").glob("*.md"))]


def find_blocks(path: Path) -> list[Block]:
    """The generated blocks of one doc, in order; DocBlockError if the doc is malformed."""
    return _parse(path)[0]


def find_all_blocks(root: Path = REPO) -> list[Block]:
    return [block for path in doc_paths(root) for block in find_blocks(path)]


def hand_typed_tables(path: Path) -> list[int]:
    """1-based header lines of the Markdown tables of a doc that are neither inside a generated
    block nor marked ``<!-- not a result table: WHY -->`` on the line before (tables in fenced
    code are not tables)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    plain = _parse(path)[1]
    unmarked = []
    for i in range(1, len(lines)):
        is_table = _is_delimiter_row(lines[i]) and "|" in lines[i - 1]
        if not (is_table and i in plain):
            continue
        header = i - 1
        marked = header > 0 and NOT_A_RESULT.fullmatch(lines[header - 1].strip())
        if not marked:
            unmarked.append(header + 1)
    return unmarked


def run_command(block: Block, root: Path = REPO) -> CommandRun:
    """``rsmooth ARGS`` of a block, in-process, from ``root``, with ``--out`` a temporary folder
    unless the command names its own."""
    from rsmooth.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    # main() installs rsmooth's Ctrl-C handlers; the caller (pytest, this tool) keeps its own.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with tempfile.TemporaryDirectory(prefix="doc-tables-") as out:
        args = block.args
        if not any(arg == "--out" or arg.startswith("--out=") for arg in args):
            args = [*args, "--out", out]
        try:
            with _working_dir(root), redirect_stdout(stdout), redirect_stderr(stderr):
                try:
                    main(args)
                    exit_code = 0
                except SystemExit as exit_info:
                    code = exit_info.code
                    exit_code = code if isinstance(code, int) else (0 if code is None else 1)
                except Exception:  # a crash is a failed command too, never a written block
                    traceback.print_exc()
                    exit_code = 1
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    return CommandRun(exit_code, stdout.getvalue(), stderr.getvalue())


def check(root: Path = REPO) -> list[BlockCheck]:
    """Every block of the docs under ``root`` beside its command's output; writes nothing."""
    return [BlockCheck(block, run_command(block, root)) for block in find_all_blocks(root)]


def write(root: Path = REPO) -> list[BlockCheck]:
    """Rewrite every block whose command succeeds with its output (the layout of the module
    docstring); blocks whose command fails are left as they are. Returns the checks as they were
    before writing."""
    checks = check(root)
    for path in doc_paths(root):
        ours = [c for c in checks if c.block.path == path and not c.command_failed]
        if all(_layout(c.run.stdout) == list(c.block.body) for c in ours):
            continue  # leave a doc that is already what we would write untouched
        lines = path.read_text(encoding="utf-8").split("\n")
        for c in reversed(ours):  # from the end, so earlier blocks' indices still hold
            lines[c.block.body_start : c.block.body_end] = _layout(c.run.stdout)
        path.write_text("\n".join(lines), encoding="utf-8")
    return checks


def main(argv: Sequence[str] | None = None, root: Path = REPO) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.doc_tables",
        description="Check (or with --write regenerate) the generated blocks of the docs.",
    )
    parser.add_argument(
        "--write", action="store_true", help="rewrite every block from its command's output"
    )
    options = parser.parse_args(argv)
    try:
        checks = write(root) if options.write else check(root)
    except DocBlockError as err:
        print(f"doc_tables: error: {err}", file=sys.stderr)
        return 2
    failed = [c for c in checks if c.command_failed]
    stale = [c for c in checks if not c.matches and not c.command_failed]
    for c in failed if options.write else failed + stale:
        print(c.problem(root), end="\n\n")
    if options.write:
        print(f"{len(checks)} blocks: {len(stale)} rewritten, {len(failed)} failed")
    else:
        print(f"{len(checks)} blocks: {len(stale)} differ, {len(failed)} failed")
        if stale:
            print("`python -m tests.doc_tables --write` rewrites them from their commands")
    return 1 if failed or (stale and not options.write) else 0


def _parse(path: Path) -> tuple[list[Block], set[int]]:
    """The blocks of a doc, and the 0-based indices of its plain lines: outside generated blocks
    and fenced code."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    plain: set[int] = set()
    opened: tuple[int, str] | None = None  # index and command of the block being read
    fence: str | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        where = f"{_shown(path, REPO)}:{i + 1}"
        if opened is None:
            fence_mark = FENCE.match(stripped)
            if fence is not None:
                if fence_mark and fence_mark.group(1).startswith(fence):
                    fence = None
                continue
            if fence_mark:
                fence = fence_mark.group(1)
                continue
        opener = OPENER.fullmatch(stripped)
        if opener:
            if opened is not None:
                raise DocBlockError(
                    f"{where}: a block opened inside the block of line {opened[0] + 1} "
                    f"(close that one with {END_MARKER} first)"
                )
            opened = (i, _allowed_command(opener.group(1), where))
        elif END.fullmatch(stripped):
            if opened is None:
                raise DocBlockError(f"{where}: an end marker without a block before it")
            if stripped != END_MARKER:
                raise DocBlockError(f"{where}: the end marker must read {END_MARKER}")
            start, command = opened
            blocks.append(
                Block(path, start + 1, command, start + 1, i, tuple(lines[start + 1 : i]))
            )
            opened = None
        elif opened is None:
            plain.add(i)
    if opened is not None:
        raise DocBlockError(
            f"{_shown(path, REPO)}:{opened[0] + 1}: block `{opened[1]}` has no end marker "
            f"({END_MARKER})"
        )
    return blocks, plain


def _allowed_command(command: str, where: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError as err:
        raise DocBlockError(f"{where}: cannot split `{command}` into words: {err}") from None
    if tuple(words[:2]) != ALLOWED_COMMAND:
        raise DocBlockError(
            f"{where}: `{command}` cannot generate a block: only `rsmooth report` commands can"
        )
    return command


def _is_delimiter_row(line: str) -> bool:
    """A table's second row: cells of dashes with optional alignment colons, e.g. | --- | ---: |"""
    stripped = line.strip()
    return "|" in stripped and "-" in stripped and not stripped.strip("|:- \t")


def _layout(output: str) -> list[str]:
    """The lines between the markers that --write puts there for an output."""
    return ["", *normalized(output), ""]


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    """contextlib.chdir, which Python 3.10 does not have."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


if __name__ == "__main__":
    sys.exit(main())

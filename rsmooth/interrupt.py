"""Stopping at a resumable point on Ctrl-C or SIGTERM (a job scheduler, `kill`, a sweep that
stops its runs).

The CLI installs ``install()``: both signals raise KeyboardInterrupt, which the engine turns into
a resumable stop. Python runs a signal handler between any two bytecodes, so the exception can
land inside a finalizer (``__del__``), where Python prints and drops it; the request is
therefore also remembered, and the loops call ``check()`` at their safe points (every training
step, every poll of a sweep) to raise it again.

A command reports the stop as ``Interrupted``, not as the KeyboardInterrupt itself: Typer turns a
KeyboardInterrupt that leaves a command into a bare exit code 130, which would lose the one-line
message that says how to resume (rsmooth.cli.main).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from rsmooth.errors import EXIT_INTERRUPTED, RsmoothError

SAME_COMMAND = "run the same command again"
INTERRUPTED = "interrupted"  # the first word of the message; a sweep's log tidying knows it


class Interrupted(RsmoothError):
    """A command stopped by Ctrl-C or SIGTERM at a resumable point; ``resume`` says how to go
    on. Exit code 130; the CLI prints it on one line like every user-facing error."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, resume: str = SAME_COMMAND) -> None:
        super().__init__(f"{INTERRUPTED} (resumable: {resume})")


_requested = False
_deferring = False


def _stop(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    if not _deferring:
        raise KeyboardInterrupt


def install() -> None:
    """Ctrl-C and SIGTERM stop the process at a resumable point, also when a shell started it
    in the background with SIGINT ignored."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested (and perhaps swallowed on the way)."""
    if _requested:
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop request back for the block, then raise it: for steps that must not be cut
    in two, such as starting a child process and recording it, so that the stop can reach it
    (a KeyboardInterrupt between the two left a child no one stopped)."""
    global _deferring
    outer = _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = outer
    if not outer:
        check()

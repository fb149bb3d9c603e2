"""Fixtures shared by several test modules."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from rsmooth import interrupt


@pytest.fixture
def stop_handlers() -> Iterator[None]:
    """rsmooth's handlers for SIGINT and SIGTERM for one test; the test process's own and a
    clean request flag afterwards (a request left set would stop later tests' loops)."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupt.install()
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        interrupt._requested = False

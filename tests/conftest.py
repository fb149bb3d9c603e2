"""Fixtures shared by several test modules."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rsmooth import interrupt
from rsmooth.data.synthetic import write_synthetic


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


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Callable[..., Path]:
    """``make(name, num_train, num_test)``: a data set's synthetic files, written once per
    session for each shape."""
    made: dict[tuple[str, int, int], Path] = {}

    def make(name: str = "fashion-mnist", num_train: int = 24, num_test: int = 16) -> Path:
        key = (name, num_train, num_test)
        if key not in made:
            made[key] = write_synthetic(name, tmp_path_factory.mktemp(name), num_train, num_test)
        return made[key]

    return make


@pytest.fixture(scope="session")
def fmnist(synthetic_data) -> Path:
    """Tiny synthetic Fashion-MNIST: 24 training images (3 steps of 8), 16 test images."""
    return synthetic_data("fashion-mnist", 24, 16)

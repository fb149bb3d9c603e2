"""rsmooth.interrupt: SIGTERM and Ctrl-C become a resumable stop, raised at once or, inside
``deferred()``, at the end of the block."""

from __future__ import annotations

import os
import signal

import pytest

from rsmooth import interrupt


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_at_once_outside_a_deferred_block(stop_handlers, sig):
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)
        for _ in range(1000):  # the handler runs between two bytecodes, soon after the signal
            pass
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()  # remembered, in case a finalizer swallowed it


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_deferred_block_finishes_then_stops(stop_handlers, sig):
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred():
            os.kill(os.getpid(), sig)
            for _ in range(1000):
                pass
            finished.append(True)
    assert finished == [True]


def test_nested_deferred_blocks_stop_at_the_end_of_the_outer_one(stop_handlers):
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred():
            with interrupt.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                steps.append("inner")
            steps.append("outer")
    assert steps == ["inner", "outer"]


def test_a_deferred_block_without_a_signal_passes(stop_handlers):
    with interrupt.deferred():
        pass
    interrupt.check()

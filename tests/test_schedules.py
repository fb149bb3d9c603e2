"""Learning-rate schedules are pure functions of the step (docs/methods.md §2)."""

import math

import pytest

from rsmooth.config import RunConfig
from rsmooth.methods import SCHEDULES, lr_at


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedule_is_pure_bounded_and_starts_at_lr(name):
    cfg = RunConfig(lr=0.1, lr_schedule=name)
    values = [lr_at(cfg, t, 100) for t in range(100)]
    assert values == [lr_at(cfg, t, 100) for t in range(100)]
    assert values[0] == pytest.approx(0.1)
    assert all(0 <= v <= 0.1 + 1e-12 for v in values)


def test_paper_step_schedule():
    cfg = RunConfig(lr=0.1)
    assert lr_at(cfg, 74, 100) == pytest.approx(0.1)
    assert lr_at(cfg, 75, 100) == pytest.approx(0.001)
    assert lr_at(cfg, 99, 100) == pytest.approx(0.001)


def test_cosine_schedule():
    cfg = RunConfig(lr=0.2, lr_schedule="cosine")
    assert lr_at(cfg, 50, 100) == pytest.approx(0.1)
    assert lr_at(cfg, 25, 100) == pytest.approx(0.1 * (1 + math.cos(math.pi / 4)))

"""What a configuration cost to train, from its runs' records (``report --cost``).

A run's numbers come from its metrics.jsonl alone: the images of an epoch are
``images_per_second × epoch_seconds`` (rounded: the engine divides one by the other), the
optimizer steps are the last record's ``step``, and the time of an epoch is the *median* of
its ``epoch_seconds`` (a run paused, or sharing the CPU for a while, must not distort it). The
gradient evaluations per step come from the run's method block (rsmooth.report.labels). A
configuration's number is the median over its completed runs.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from rsmooth.runfolder import Run


@dataclass(frozen=True)
class Cost:
    evaluations_per_step: int | None  # forward+backward passes per optimizer step
    images: int | None  # training images processed over the whole run
    epoch_seconds: float  # measured training seconds per epoch; nan where not recorded
    evaluations: int | None  # gradient evaluations over the whole run: steps × per step


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def run_images(run: Run) -> int | None:
    """Training images the run processed: per epoch, round(images/s × seconds)."""
    total = 0
    for record in run.metrics:
        rate = _number(record.get("images_per_second"))
        seconds = _number(record.get("epoch_seconds"))
        if rate is None or seconds is None:
            return None  # an epoch that did not record its pace: the total is unknown
        total += round(rate * seconds)
    return total if run.metrics else None


def run_epoch_seconds(run: Run) -> float:
    """The median over the run's epochs of its training seconds."""
    seconds = [s for r in run.metrics if (s := _number(r.get("epoch_seconds"))) is not None]
    return statistics.median(seconds) if seconds else math.nan


def run_steps(run: Run) -> int | None:
    """Optimizer steps of the whole run: the last epoch's ``step``."""
    step = run.metrics[-1].get("step") if run.metrics else None
    ok = isinstance(step, int) and not isinstance(step, bool)
    return step if ok else None


def cost(runs: list[Run], evaluations_per_step: int | None) -> Cost:
    """The cost of one configuration, over its (completed) runs."""
    images = _median_int([run_images(r) for r in runs])
    steps = _median_int([run_steps(r) for r in runs])
    seconds = [s for s in (run_epoch_seconds(r) for r in runs) if not math.isnan(s)]
    evaluations = None
    if steps is not None and evaluations_per_step is not None:
        evaluations = steps * evaluations_per_step
    return Cost(
        evaluations_per_step,
        images,
        statistics.median(seconds) if seconds else math.nan,
        evaluations,
    )


def _median_int(values: list[int | None]) -> int | None:
    """The median of the known values, as an integer (the runs of one configuration agree;
    the median ignores one that stopped its log short)."""
    known = [v for v in values if v is not None]
    return statistics.median_low(known) if known else None

"""Small-sample statistics for the report, on scipy.stats: intervals, Welch's test, Holm.

The report compares a handful of trials per configuration (the paper uses 5), so intervals use
Student's t distribution. A difference of two methods is tested on the per-seed differences
(the paired t-test) where both sides ran the same seeds: the seed draws each run's images,
held-out split, initialization and batch order, the same for every method (docs/methods.md
§3.1, §6), so runs of one seed share those draws: in table2-eighth's confirmation the three
arms' per-seed accuracies correlate at 0.56-0.65. Where the seeds differ, Welch's
unequal-variance t-test; either way the interval is the interval of the difference itself.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import optimize, stats

INTERVALS = ("ci95", "std")


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof 1) and 95% t-interval half-width of trials."""

    n: int
    mean: float
    std: float  # nan for n < 2
    ci95: float  # half-width: t_{0.975, n-1} * std / sqrt(n); nan for n < 2

    def spread(self, interval: str) -> float:
        """The ± shown beside the mean: the 95% half-width or one standard deviation."""
        if interval not in INTERVALS:
            raise ValueError(f"unknown interval {interval!r} (allowed: {', '.join(INTERVALS)})")
        return self.ci95 if interval == "ci95" else self.std


def summarize(values: Sequence[float]) -> Summary:
    n = len(values)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan)
    mean = math.fsum(values) / n
    if n < 2:
        return Summary(n, mean, math.nan, math.nan)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Summary(n, mean, std, float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n))


PAIRED, WELCH = "paired", "welch"  # the tests of a difference
TESTS = (PAIRED, WELCH)


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with the 95% interval of the difference and the two-sided p of
    ``test``: the paired t-test on per-seed differences, or Welch's."""

    delta: float
    low: float  # nan where the test is undefined (fewer than 2 trials, or no spread)
    high: float
    p: float
    df: float
    test: str = WELCH

    @property
    def defined(self) -> bool:
        return not math.isnan(self.p)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def welch(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Welch's t-test of mean(a) != mean(b) and the 95% interval of mean(a) - mean(b)."""
    delta = (math.fsum(a) / len(a) - math.fsum(b) / len(b)) if a and b else math.nan
    if len(a) < 2 or len(b) < 2 or (summarize(a).std == 0 and summarize(b).std == 0):
        return Difference(delta, math.nan, math.nan, math.nan, math.nan)
    with warnings.catch_warnings():
        # scipy warns of "catastrophic cancellation" when one side's trials are identical
        # (a spread of 0): Welch's test is still defined by the other side's spread.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(0.95)
    return Difference(
        delta, float(interval.low), float(interval.high), float(result.pvalue), float(result.df)
    )


def paired(a: Sequence[float], b: Sequence[float]) -> Difference:
    """The paired t-test of mean(a - b) != 0 over trials matched by position (the same seed),
    and the 95% interval of the mean difference (= mean(a) - mean(b))."""
    if len(a) != len(b):
        raise ValueError(f"paired trials must match one to one ({len(a)} against {len(b)})")
    delta = (math.fsum(a) / len(a) - math.fsum(b) / len(b)) if a else math.nan
    differences = [x - y for x, y in zip(a, b, strict=True)]
    if len(a) < 2 or summarize(differences).std == 0:  # df says which: < 1, one pair
        return Difference(delta, math.nan, math.nan, math.nan, float(len(a) - 1), PAIRED)
    result = stats.ttest_rel(a, b)
    interval = result.confidence_interval(0.95)
    return Difference(
        delta,
        float(interval.low),
        float(interval.high),
        float(result.pvalue),
        float(result.df),
        PAIRED,
    )


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` (one family of comparisons): the k-th
    smallest p is multiplied by (m - k + 1), kept monotone and capped at 1. NaN (an undefined
    test) stays NaN and does not count in m. scipy has no Holm; this is its textbook form."""
    ranked = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(ranked)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for k, (p, index) in enumerate(ranked):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[index] = running
    return adjusted


def pooled_sd(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The pooled within-group standard deviation sqrt(Σ (n_i − 1) s_i² / Σ (n_i − 1)) and its
    degrees of freedom, over the groups with at least 2 finite values: the seed-to-seed noise
    of configurations that may differ in their means. (nan, 0) where no group has 2."""
    squares, df = 0.0, 0
    for group in groups:
        values = [v for v in group if math.isfinite(v)]
        if len(values) < 2:
            continue
        mean = math.fsum(values) / len(values)
        squares += math.fsum((v - mean) ** 2 for v in values)
        df += len(values) - 1
    return (math.sqrt(squares / df), df) if df else (math.nan, 0)


def detectable_difference(
    sd: float, n1: int, n2: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest true difference of two means that a two-sided two-sample t-test at level
    ``alpha`` detects with probability ``power``, for trials with standard deviation ``sd``
    and ``n1``, ``n2`` trials (the noncentral t distribution; nan where undefined)."""
    if n1 < 2 or n2 < 2 or not math.isfinite(sd) or sd <= 0:
        return math.nan
    return _noncentrality(n1 + n2 - 2, alpha, power) * sd * math.sqrt(1 / n1 + 1 / n2)


def detectable_paired_difference(
    sd: float, n: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The same for the paired t-test: ``n`` pairs whose per-pair differences have standard
    deviation ``sd`` (a one-sample t-test on the differences, n - 1 degrees of freedom)."""
    if n < 2 or not math.isfinite(sd) or sd <= 0:
        return math.nan
    return _noncentrality(n - 1, alpha, power) * sd / math.sqrt(n)


def _noncentrality(df: int, alpha: float, power: float) -> float:
    """The noncentrality at which a two-sided t-test with ``df`` degrees of freedom at level
    ``alpha`` rejects with probability ``power``."""
    critical = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(noncentrality: float) -> float:
        reach = stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(
            -critical, df, noncentrality
        )
        return float(reach) - power

    high = critical + 1.0  # doubled until it reaches the power (nct is nan far out: no 100)
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high))

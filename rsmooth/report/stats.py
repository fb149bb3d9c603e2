"""Small-sample statistics without scipy: Student's t distribution, intervals, Welch's test.

The report compares a handful of trials per configuration (the paper uses 5), so intervals
use the t distribution, not the normal one; its CDF is the regularized incomplete beta
function, evaluated with the continued fraction of Numerical Recipes (Press et al., sec. 6.4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_TINY = 1e-300
_EPS = 1e-15


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    # Modified Lentz evaluation of the continued fraction for I_x(a, b).
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and x in [0, 1]."""
    if not (a > 0 and b > 0):
        raise ValueError(f"incomplete beta needs a, b > 0 (got a={a}, b={b})")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast only on this side of the mean; use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) on the other.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (possibly fractional) degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0 (got {df})")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p, by bisection on ``t_cdf`` (monotone, so it cannot miss)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile level must be in (0, 1) (got {p})")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof 1) and 95% t-interval half-width of trials."""

    n: int
    mean: float
    std: float  # nan for n < 2
    ci95: float  # half-width: t_{0.975, n-1} * std / sqrt(n); nan for n < 2


def summarize(values: Sequence[float]) -> Summary:
    n = len(values)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan)
    mean = math.fsum(values) / n
    if n < 2:
        return Summary(n, mean, math.nan, math.nan)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Summary(n, mean, std, t_quantile(0.975, n - 1) * std / math.sqrt(n))


@dataclass(frozen=True)
class WelchTest:
    t: float
    df: float
    p: float  # two-sided


def welch_test(a: Sequence[float], b: Sequence[float]) -> WelchTest | None:
    """Welch's unequal-variance t-test of mean(a) != mean(b); None when it is undefined.

    Undefined: fewer than 2 trials on a side, or no spread at all (both samples constant).
    """
    sa, sb = summarize(a), summarize(b)
    if sa.n < 2 or sb.n < 2:
        return None
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    if va + vb == 0.0:
        return None
    t = (sa.mean - sb.mean) / math.sqrt(va + vb)
    # Welch-Satterthwaite degrees of freedom; a sample with no spread contributes nothing.
    denominator = (va**2 / (sa.n - 1) if va else 0.0) + (vb**2 / (sb.n - 1) if vb else 0.0)
    df = (va + vb) ** 2 / denominator
    # Two-sided p = 2 P(T > |t|) = I_{df/(df+t^2)}(df/2, 1/2), exact in the far tail.
    p = regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return WelchTest(t, df, min(max(p, 0.0), 1.0))

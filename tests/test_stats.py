"""rsmooth.report.stats against known values: Welch's test on a published example, the paired
t-test on Student's sleep data, Holm's adjustment by hand, intervals against the t table."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from rsmooth.report.stats import (
    detectable_paired_difference,
    holm,
    paired,
    summarize,
    welch,
)

# Welch's t-test, the first example of Wikipedia's "Welch's t-test" article (two samples of
# 15): t = -2.46, df = 24.97, two-sided p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_matches_the_published_example():
    result = welch(A1, A2)
    assert result.df == pytest.approx(24.9885, abs=1e-3)
    assert result.p == pytest.approx(0.021, abs=5e-4)  # published to 3 decimals
    assert (result.delta / (result.high - result.low) * 2) == pytest.approx(
        -2.46 / scipy_stats.t.ppf(0.975, result.df), abs=1e-2
    )
    assert result.delta == pytest.approx(sum(A1) / 15 - sum(A2) / 15)
    # the interval of the difference: delta ± t_{0.975, df} * se
    se = math.sqrt(summarize(A1).std ** 2 / 15 + summarize(A2).std ** 2 / 15)
    half = scipy_stats.t.ppf(0.975, result.df) * se
    assert (result.low, result.high) == (
        pytest.approx(result.delta - half),
        pytest.approx(result.delta + half),
    )
    assert result.high < 0  # p < 0.05: the interval excludes 0


def test_welch_by_hand_and_r():
    result = welch([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0])
    assert 0.0349 < result.p < 0.0350  # R: t.test(1:4, 3:7) gives p-value = 0.03494
    assert result.delta == -2.5


def test_welch_undefined_cases():
    assert not welch([1.0], [2.0, 3.0]).defined  # fewer than two trials
    assert not welch([1.0, 1.0], [2.0, 2.0]).defined  # no spread at all
    one_sided = welch([1.0, 1.0, 1.0], [2.0, 2.1, 1.9])  # one side constant: still defined
    assert one_sided.defined and one_sided.p < 0.05


# Student's sleep data (Cushny & Peebles 1905; R's `sleep`): extra hours of sleep of 10 patients
# under two drugs. R: t.test(extra ~ group, data = sleep, paired = TRUE) gives t = -4.0621,
# df = 9, p-value = 0.002833, 95% CI [-2.4598858, -0.7001142], mean difference -1.58.
SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_paired_matches_r_on_the_sleep_data():
    result = paired(SLEEP1, SLEEP2)
    assert result.test == "paired" and result.df == 9
    assert result.delta == pytest.approx(-1.58)
    assert result.p == pytest.approx(0.002833, abs=5e-7)
    assert (result.low, result.high) == (
        pytest.approx(-2.4598858, abs=1e-7),
        pytest.approx(-0.7001142, abs=1e-7),
    )
    # the same numbers unpaired: Welch's p is 0.079 (R), the pairing is what detects it
    assert welch(SLEEP1, SLEEP2).p == pytest.approx(0.07939, abs=5e-5)


def test_paired_undefined_cases_and_mismatch():
    assert not paired([1.0], [2.0]).defined  # one pair
    assert not paired([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).defined  # constant differences
    with pytest.raises(ValueError, match="match one to one"):
        paired([1.0, 2.0], [1.0, 2.0, 3.0])


def test_detectable_paired_difference_tends_to_the_normal_approximation():
    z = 1.959963984540054 + 0.8416212335729143  # z_0.975 + z_0.8
    n = 20_000
    assert detectable_paired_difference(1.0, n) == pytest.approx(z / math.sqrt(n), rel=1e-3)
    # small n: the noncentral t's answer is larger than the normal one (df = n - 1)
    assert detectable_paired_difference(1.0, 5) > z / math.sqrt(5)
    assert math.isnan(detectable_paired_difference(1.0, 1))
    assert math.isnan(detectable_paired_difference(0.0, 5))


def test_holm_by_hand():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm([0.02, math.nan, 0.04])  # an undefined test does not count in m
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.04)
    assert holm([]) == []


@pytest.mark.parametrize(("n", "table"), [(2, 12.706), (3, 4.303), (5, 2.776), (30, 2.045)])
def test_interval_uses_the_t_table(n, table):
    values = [float(i) for i in range(n)]
    result = summarize(values)
    assert result.ci95 == pytest.approx(table * result.std / math.sqrt(n), rel=1e-3)


def test_summary_of_one_and_none():
    one = summarize([90.0])
    assert (one.n, one.mean) == (1, 90.0) and math.isnan(one.std) and math.isnan(one.ci95)
    assert summarize([]).n == 0 and math.isnan(summarize([]).mean)
    assert one.spread("std") is one.std
    with pytest.raises(ValueError):
        one.spread("iqr")

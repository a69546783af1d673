"""Golden tests: reports.stats against scipy's own tests on known inputs."""

import math

import pytest
from scipy import stats as sps

from reports.stats import EXACT_MCNEMAR_BELOW, get_discordant, mcnemar_test, summarize_values, welch_t_test

A = [0.85, 0.90, 0.80]
B = [0.80, 0.75, 0.85, 0.78]


def test_summary_matches_scipy_t_interval():
    s = summarize_values(A)
    low, high = sps.t.interval(0.95, len(A) - 1, loc=sps.tmean(A), scale=sps.sem(A))
    assert s.n == 3
    assert s.mean == pytest.approx(0.85)
    assert s.sd == pytest.approx(0.05)
    assert (s.ci_low, s.ci_high) == (pytest.approx(low), pytest.approx(high))
    # Known value: t(0.975, 2) = 4.302653; half-width = 4.302653 * 0.05 / sqrt(3).
    assert s.half_width == pytest.approx(4.302653 * 0.05 / math.sqrt(3), rel=1e-6)


def test_single_value_has_no_interval_and_empty_is_none():
    s = summarize_values([0.9])
    assert (s.n, s.mean, s.sd, s.ci_low, s.ci_high, s.half_width) == (1, 0.9, None, None, None, None)
    assert summarize_values([]) is None
    assert summarize_values([None, float("nan")]) is None


@pytest.mark.parametrize("a, b", [(A, B), ([1.0, 2.0, 3.0, 4.0], [2.5, 3.1, 9.0]), ([10, 11], [20, 25, 30])])
def test_welch_matches_scipy(a, b):
    ours = welch_t_test(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue)
    assert ours.test == "Welch's t-test"


def test_welch_known_value():
    # By hand: means 2.5 vs 4.0, variances 5/3 and 10/3, n=4 each -> t = -1.5 / sqrt(15/12), df = 5.4.
    res = welch_t_test([1, 2, 3, 4], [2, 3, 5, 6])
    assert res.statistic == pytest.approx(-1.5 / math.sqrt(15 / 12))
    assert "df=5.4" in res.detail
    assert res.p_value == pytest.approx(0.233370, abs=1e-5)


def test_welch_needs_two_per_group_and_handles_zero_variance():
    with pytest.raises(ValueError, match=">= 2 values"):
        welch_t_test([1.0], [1.0, 2.0])
    assert welch_t_test([0.8, 0.8], [0.8, 0.8]).p_value == 1.0
    assert welch_t_test([0.9, 0.9], [0.8, 0.8]).p_value == 0.0


def make_pairs(b: int, c: int, both: int = 10, neither: int = 3):
    """Predictions with exactly b examples only A gets right and c only B gets right."""
    labels, pa, pb = [], [], []
    for right_a, right_b, count in ((1, 0, b), (0, 1, c), (1, 1, both), (0, 0, neither)):
        for _ in range(count):
            labels.append(1)
            pa.append(1 if right_a else 0)
            pb.append(1 if right_b else 0)
    return pa, pb, labels


def test_discordant_counts():
    assert get_discordant(*make_pairs(4, 9)) == (4, 9)
    with pytest.raises(ValueError, match="differ in length"):
        get_discordant([1], [1, 0], [1])


@pytest.mark.parametrize("b, c", [(4, 9), (0, 6), (10, 10), (1, 23)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    assert b + c < EXACT_MCNEMAR_BELOW
    res = mcnemar_test(*make_pairs(b, c))
    assert res.test == "McNemar's exact test (binomial)"
    assert res.p_value == pytest.approx(sps.binomtest(min(b, c), b + c, 0.5).pvalue)
    assert f"b={b}, c={c}" == res.detail


@pytest.mark.parametrize("b, c", [(30, 12), (25, 25), (40, 10)])
def test_mcnemar_chi_square_continuity_corrected(b, c):
    res = mcnemar_test(*make_pairs(b, c))
    assert res.test == "McNemar's chi-square test (continuity-corrected)"
    expected = (abs(b - c) - 1) ** 2 / (b + c)
    assert res.statistic == pytest.approx(expected)
    assert res.p_value == pytest.approx(sps.chi2.sf(expected, 1))


def test_mcnemar_known_value():
    # b=30, c=12: chi2 = 17^2 / 42 = 6.881, p = 0.00871.
    res = mcnemar_test(*make_pairs(30, 12))
    assert res.statistic == pytest.approx(6.8810, abs=1e-4)
    assert res.p_value == pytest.approx(0.008711, abs=1e-5)


def test_mcnemar_no_discordant_pairs():
    assert mcnemar_test(*make_pairs(0, 0)).p_value == 1.0

"""Statistics for the report: seed summaries, confidence intervals and significance tests.

The statistics are computed here; scipy supplies only the distribution functions
(t quantiles and tails, binomial and chi-square tails), and the unit tests check
the results against scipy's own tests on known inputs.
"""

import math
from dataclasses import dataclass

from scipy import stats as _dist

# Below this many discordant pairs McNemar's chi-square approximation is poor,
# so the exact binomial form is used (a common rule of thumb: b + c < 25).
EXACT_MCNEMAR_BELOW = 25


@dataclass(frozen=True)
class Summary:
    """Mean and spread of one metric over seeds.

    Args:
        n: number of values (seeds).
        mean: arithmetic mean.
        sd: sample standard deviation (ddof=1); None with fewer than 2 values.
        ci_low: lower end of the two-sided 95% t-interval; None with fewer than 2 values.
        ci_high: upper end of the interval; None with fewer than 2 values.
    """

    n: int
    mean: float
    sd: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.ci_high is None else (self.ci_high - self.ci_low) / 2


@dataclass(frozen=True)
class TestResult:
    """The outcome of a significance test.

    Args:
        test: the test's name as shown in the report (e.g. "Welch's t-test").
        statistic: the test statistic (t, chi-square, or the smaller discordant count).
        p_value: two-sided p-value.
        detail: the inputs that matter for reading it (degrees of freedom, discordant counts).
    """

    test: str
    statistic: float
    p_value: float
    detail: str


def summarize_values(values: list[float], *, confidence: float = 0.95) -> Summary | None:
    """Mean, sd and t-interval of ``values``; None for no values, no interval for one."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    if n == 0:
        return None
    mean = sum(vals) / n
    if n < 2:
        return Summary(n=1, mean=mean, sd=None, ci_low=None, ci_high=None)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = float(_dist.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Summary(n=n, mean=mean, sd=sd, ci_low=mean - half, ci_high=mean + half)


def welch_t_test(a: list[float], b: list[float]) -> TestResult:
    """Two-sided Welch's t-test (unequal variances) of mean(a) vs mean(b); needs >= 2 values each."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's t-test needs >= 2 values per group, got {len(a)} and {len(b)}")
    sa, sb = summarize_values(a), summarize_values(b)
    va, vb = sa.sd**2 / sa.n, sb.sd**2 / sb.n
    diff = sa.mean - sb.mean
    if va + vb == 0:
        # Identical seeds on both sides: no spread to test against.
        p = 1.0 if diff == 0 else 0.0
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return TestResult("Welch's t-test", t, p, "zero variance in both groups")
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    p = float(2 * _dist.t.sf(abs(t), df))
    return TestResult("Welch's t-test", t, min(p, 1.0), f"t={t:.3f}, df={df:.1f}, n={sa.n} vs {sb.n}")


def get_discordant(pred_a: list[int], pred_b: list[int], labels: list[int]) -> tuple[int, int]:
    """(b, c): examples only ``a`` gets right, and examples only ``b`` gets right."""
    if not (len(pred_a) == len(pred_b) == len(labels)):
        raise ValueError(f"paired predictions differ in length: {len(pred_a)}, {len(pred_b)}, {len(labels)}")
    only_a = sum(1 for x, y, t in zip(pred_a, pred_b, labels) if x == t and y != t)
    only_b = sum(1 for x, y, t in zip(pred_a, pred_b, labels) if x != t and y == t)
    return only_a, only_b


def mcnemar_test(pred_a: list[int], pred_b: list[int], labels: list[int]) -> TestResult:
    """McNemar's test on paired per-example correctness.

    Exact (binomial, two-sided) when the discordant count is below
    ``EXACT_MCNEMAR_BELOW``; otherwise chi-square with continuity correction.
    """
    b, c = get_discordant(pred_a, pred_b, labels)
    n = b + c
    if n == 0:
        return TestResult("McNemar's exact test", 0.0, 1.0, "no discordant examples (b=c=0)")
    if n < EXACT_MCNEMAR_BELOW:
        k = min(b, c)
        p = min(1.0, float(2 * _dist.binom.cdf(k, n, 0.5)))
        return TestResult("McNemar's exact test (binomial)", float(k), p, f"b={b}, c={c}")
    chi2 = (abs(b - c) - 1) ** 2 / n
    p = float(_dist.chi2.sf(chi2, 1))
    return TestResult("McNemar's chi-square test (continuity-corrected)", chi2, p, f"b={b}, c={c}")

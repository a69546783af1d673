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


@dataclass(frozen=True)
class Interval:
    """A 95% interval around a mean, possibly asymmetric.

    Args:
        mean: the point estimate.
        low, high: the interval's ends.
        method: how it was computed, as shown in a tooltip.
    """

    mean: float
    low: float
    high: float
    method: str

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def wilson_interval(successes: float, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a proportion: always inside [0, 1], sensible at 0 and n."""
    if n <= 0:
        raise ValueError(f"a proportion needs n >= 1 examples, got {n}")
    z = float(_dist.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # rounding: keep p inside
    return Interval(p, low, high, f"Wilson score interval over {n} examples")


# Up to this many seeds every resample is enumerated (n**n of them: 46,656 at 6), so the
# bootstrap is exact and needs no random numbers; above it a fixed-seed sample is drawn.
EXACT_BOOTSTRAP_UP_TO = 6
BOOTSTRAP_SAMPLES = 20000


def bootstrap_interval(values: list[float], *, confidence: float = 0.95) -> Interval:
    """Percentile bootstrap interval of the mean over seeds. It never leaves the values' range,
    so a metric bounded in [0, 100] keeps its interval there (a t-interval does not)."""
    import itertools
    import random

    vals = [float(v) for v in values]
    n = len(vals)
    if n < 2:
        raise ValueError(f"a bootstrap over seeds needs >= 2 values, got {n}")
    if n <= EXACT_BOOTSTRAP_UP_TO:
        means = sorted(sum(c) / n for c in itertools.product(vals, repeat=n))
    else:
        rng = random.Random(0)
        means = sorted(sum(rng.choices(vals, k=n)) / n for _ in range(BOOTSTRAP_SAMPLES))
    tail = (1 - confidence) / 2
    low = means[int(math.floor(tail * (len(means) - 1)))]
    high = means[int(math.ceil((1 - tail) * (len(means) - 1)))]
    return Interval(sum(vals) / n, low, high, f"percentile bootstrap of the mean over {n} seeds")

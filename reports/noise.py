"""Each number of the report with its noise, one definition each, shared by the tables and the verdict.

- Quality: the mean over seeds with a 95% interval. Accuracy-like metrics (bounded, in [0, 1])
  take the wider of a percentile bootstrap over seeds and the Wilson interval of the pooled
  examples, so the interval stays inside [0, 100]%; other metrics take the t-interval over seeds.
- Step time: the median step of a case (``step_seconds_p50``, the table's column), averaged
  over seeds. Its noise is the larger of the steps' spread within a case (half the
  inter-quartile range; older files: p90 − p50) and the 95% half-width over seeds.
- Memory: peak GPU memory where measured, else the case's own CPU RSS increase (never the
  process peak, which compounds over the cases run before). Its noise is the 95% half-width
  over seeds, and at least the RSS resolution on the CPU, or the GPU peak's seed-to-seed
  movement on a GPU.

Two values are apart only when their difference exceeds the root sum of squares of their noises.
"""

import math
from dataclasses import dataclass

from reports import fmt
from reports.load import Row
from reports.memory import get_case_rss
from reports.stats import Interval, bootstrap_interval, summarize_values, wilson_interval

# A case's CPU RSS increase moves by whole allocator chunks from run to run: glibc hands
# memory back and takes it in arenas and trimmed heaps, not per tensor. Below this, two
# per-case increases are not told apart. Measured on the tiny tier with malloc_trim before
# each case and the throwaway first run (fixtures.run.first_case): `pytest bench/test_finetune.py
# -m "smoke and cpu and (sst2 or wikitext2) and (full_ft or lora or dora or vera)" --seeds 0,1,2`
# on the 2-core CPU, the same case's increase had an sd over seeds of 0.15-1.3 MiB (2.7 MiB for
# the process's first case, full_ft on sst2: 15.2 MiB, then 10.6 and 10.5).
RSS_RESOLUTION_BYTES = 2 * 2**20
# The same case's GPU peak moves a little from seed to seed (the caching allocator's blocks,
# kernel workspaces): over 3 seeds of each of 22 methods on real SST-2 (one H200,
# results/h200-tune/run-2026-12-04) by at most 1.0 MiB or 0.26%, except SHiRA, whose random
# sparsity pattern follows the seed (20 MiB, 4.4%: its spread over seeds counts where seeds
# ran). A single-seed run has no spread of its own; below this floor two GPU peaks are not told
# apart (so "1.000x" and a Pareto step over 1 MiB do not happen).
GPU_RESOLUTION_BYTES = 2 * 2**20
GPU_RESOLUTION_SHARE = 0.005
TIME_LABEL = "step time p50"


@dataclass(frozen=True)
class Measure:
    """A value with its noise.

    Args:
        value: the mean over seeds.
        noise: the uncertainty to compare against (same unit), 0 where none is known.
        detail: how the noise was found, for a tooltip.
    """

    value: float
    noise: float
    detail: str = ""


def is_bounded(metric: str) -> bool:
    """Metrics that are proportions in [0, 1]: accuracy and its variants, F1, precision, recall."""
    return metric.startswith("accuracy") or metric.split("_")[0] in ("f1", "precision", "recall")


def get_eval_count(row: Row):
    """How many examples the evaluation scored (the proportion's n), where recorded."""
    labels = row.extra.get("labels")
    if isinstance(labels, list) and labels:
        return len(labels)
    n = (row.extra.get("protocol") or {}).get("n_eval")
    return int(n) if fmt.is_num(n) and n > 0 else None


def get_quality_interval(rows: list[Row], metric: str) -> Interval | None:
    """The 95% interval of ``metric`` over measured seeds (fractions for bounded metrics), or None
    where no interval exists (one seed of an unbounded metric, or no examples count)."""
    runs = [r for r in rows if r.measured and fmt.is_num(r.extra.get(metric))]
    values = [r.extra[metric] for r in runs]
    if not values:
        return None
    mean = sum(values) / len(values)
    if not is_bounded(metric):
        s = summarize_values(values)
        return None if s.n < 2 else Interval(mean, s.ci_low, s.ci_high, f"t-interval over {s.n} seeds")
    counts = [get_eval_count(r) for r in runs]
    wilson = None
    if all(counts):
        n = sum(counts)
        wilson = wilson_interval(sum(v * c for v, c in zip(values, counts)), n)
    if len(values) < 2:
        return wilson
    boot = bootstrap_interval(values)
    if wilson is None:
        return boot
    return Interval(mean, min(boot.low, wilson.low), max(boot.high, wilson.high),
                    f"the wider of a {boot.method} and a {wilson.method} (pooled)")


def get_spread(values: list[float]) -> float:
    """The 95% half-width over seeds (0 for one seed)."""
    s = summarize_values(values)
    return 0.0 if s is None or s.n < 2 else s.half_width


def get_within(row: Row):
    """Half the inter-quartile range of a case's step times (older files: p90 − p50)."""
    iqr = row.extra.get("step_seconds_iqr")
    if fmt.is_num(iqr):
        return iqr / 2
    p50, p90 = row.extra.get("step_seconds_p50"), row.extra.get("step_seconds_p90")
    return p90 - p50 if fmt.is_num(p50) and fmt.is_num(p90) else None


def get_step_time(rows: list[Row]) -> Measure | None:
    """The table's step time (median step, mean over seeds) with its noise."""
    runs = [r for r in rows if r.measured and fmt.is_num(r.extra.get("step_seconds_p50"))]
    if not runs:
        return None
    values = [r.extra["step_seconds_p50"] for r in runs]
    within = [w for w in map(get_within, runs) if w is not None]
    within = sum(within) / len(within) if within else 0.0
    across = get_spread(values)
    detail = f"noise ±{within * 1e3:.2f} ms within a case (steps' half inter-quartile range)"
    if len(values) > 1:
        detail += f", ±{across * 1e3:.2f} ms over {len(values)} seeds (95%)"
    return Measure(sum(values) / len(values), max(within, across), detail)


def get_memory_bytes(row: Row):
    """Peak GPU memory where measured, else the case's own CPU RSS increase."""
    return row.peak_gpu if fmt.is_num(row.peak_gpu) else get_case_rss(row)


def get_memory_kind(rows: list[Row]) -> str:
    """What the memory number is, in words."""
    return "GPU peak memory" if any(fmt.is_num(r.peak_gpu) for r in rows) else "CPU memory (per-case RSS increase)"


def get_memory(rows: list[Row]) -> Measure | None:
    """Memory (GPU peak, else per-case CPU RSS increase), mean over seeds, with its noise."""
    runs = [r for r in rows if r.measured and fmt.is_num(get_memory_bytes(r))]
    if not runs:
        return None
    values = [get_memory_bytes(r) for r in runs]
    mean = sum(values) / len(values)
    gpu = fmt.is_num(runs[0].peak_gpu)
    floor = max(GPU_RESOLUTION_BYTES, GPU_RESOLUTION_SHARE * mean) if gpu else RSS_RESOLUTION_BYTES
    return Measure(mean, max(get_spread(values), floor))


def get_noise(quality: Interval | None) -> float:
    return 0.0 if quality is None else quality.half_width


def is_apart(a: float, noise_a: float, b: float, noise_b: float) -> bool:
    """Whether ``a`` and ``b`` differ by more than their combined noise."""
    return abs(a - b) > math.hypot(noise_a or 0.0, noise_b or 0.0)

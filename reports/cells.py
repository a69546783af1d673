"""Table cells whose number carries its noise or its meaning: quality with its interval, step
time with its spread, and "—" where a column means nothing for a method."""

from reports import fmt, noise
from reports.load import Row
from reports.model import Cell
from reports.stats import summarize_values
from reports.verdict import is_cost_only

# metric -> scale of its shown value (accuracy-like metrics in percent)
SCALES = {"perplexity": 1.0, "perplexity_ratio": 1.0}


def make_quality_cell(rows: list[Row], metric: str) -> Cell:
    """Mean and its 95% interval (``reports.noise``: inside [0, 100] for accuracy-like metrics),
    or the single value with a plain "no interval" note."""
    if rows and all(map(is_cost_only, rows)):
        return Cell("cost only", note="random-init weights: the loss measures no quality")
    scale = SCALES.get(metric, 100.0)  # accuracy, f1, zero-shot accuracy: percent
    values = [r.extra.get(metric) for r in rows if r.measured and fmt.is_num(r.extra.get(metric))]
    s = summarize_values([v * scale for v in values])
    if s is None:
        statuses = ", ".join(sorted({r.status for r in rows}))
        return Cell(fmt.DASH, note=f"no measured value ({statuses})", flag="fail")
    interval = noise.get_quality_interval(rows, metric)
    seeds = f"{s.n} seed{'s' if s.n > 1 else ''}"
    if interval is None:
        return Cell(f"{s.mean:.2f}", s.mean, note=f"{seeds}: no confidence interval exists")
    low, high = interval.low * scale, interval.high * scale
    sd = f", sd={s.sd:.3f}" if s.sd is not None else ""
    return Cell(f"{s.mean:.2f} ({low:.2f}–{high:.2f})", s.mean, note=f"{seeds}{sd}; 95% interval [{low:.2f}, "
                f"{high:.2f}]: {interval.method}", noise=(high - low) / 2)


def get_scaled(value, relative):
    """A noise in ``value``'s unit from a relative one (None where either is missing)."""
    return value * relative if fmt.is_num(value) and fmt.is_num(relative) else None


def make_step_cell(step) -> Cell:
    """The median step (mean over seeds) with its noise (``reports.noise``)."""
    if step is None:
        return Cell(fmt.DASH)
    return Cell(fmt.get_ms(step.value), step.value, note=step.detail, noise=step.noise)


def make_weight_sparsity_cell(rows: list[Row]) -> Cell:
    """Zeros in the adapter; "—" for a method without one (full fine-tuning trains every weight)."""
    if all(fmt.is_num(p := r.extra.get("trainable_percent")) and p >= 100 for r in rows):
        return Cell(fmt.DASH, note="no adapter: every weight is trained")
    values = [v for r in rows if fmt.is_num(v := r.extra.get("weight_sparsity"))]
    mean = sum(values) / len(values) if values else None
    return Cell(fmt.get_percent(mean), mean)

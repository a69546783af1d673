"""The sparsity frontier: quality against the fraction skipped, per dataset and model.

For each sparsity method (SparseLoRA: the fraction of base FLOPs skipped, ``compute_sparsity``;
``lora_prune``: the adapter's weight sparsity, ``adapter_weight_sparsity``) and each dataset x
model x hardware x tier where LoRA ran too, every case of the method (each --sweep point, and
the unswept case) is a point: mean quality over seeds with its 95% t-interval, and its speed-up
over LoRA's step time (the report's: median step, mean over seeds). LoRA's interval is drawn as a band. The sentence names the
largest fraction skipped whose quality interval overlaps LoRA's (a lenient test: overlapping
intervals do not prove equal quality; with one seed, the point itself must lie in LoRA's band).

Reads result rows only.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from reports import fmt, noise, plots
from reports.labels import REFERENCE, get_base
from reports.load import Row
from reports.model import Plot
from reports.stats import Summary
from reports.verdict import get_plain_runs, get_scope_key

plt = plots.plt
# method -> (the sparsity key it records, what the x axis measures, the sentence's phrase)
KINDS = {
    "sparselora": ("compute_sparsity", "base FLOPs skipped", "of base FLOPs skipped"),
    "lora_prune": ("adapter_weight_sparsity", "adapter weight sparsity", "adapter weight sparsity"),
}
NAMES = {"sparselora": "SparseLoRA", "lora_prune": "lora_prune"}


@dataclass
class Point:
    """One case of a sparsity method, over its seeds.

    Args:
        label: the case's method label (with its sweep tag).
        x: mean fraction skipped (0-1).
        quality: accuracy (or perplexity) over seeds, in the report's units.
        speedup: LoRA's mean step time / this point's (None where either is missing).
        overlaps: its quality interval overlaps LoRA's.
        speed_apart: the two step times differ beyond their noise (``reports.noise``).
    """

    label: str
    x: float
    quality: Summary
    speedup: float | None
    overlaps: bool
    speed_apart: bool = True


@dataclass
class Frontier:
    """One method's frontier on one dataset x model x hardware x tier."""

    method: str
    where: str
    metric: str
    reference: Summary
    points: list
    sentence: str
    plot: Plot | None = None


@dataclass
class FrontierSection:
    """What the template shows."""

    frontiers: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def get_interval(s: Summary) -> tuple[float, float]:
    return (s.mean, s.mean) if s.ci_low is None else (s.ci_low, s.ci_high)


def get_metric(rows: list[Row]) -> str | None:
    for metric in ("accuracy", "perplexity"):
        if any(fmt.is_num(r.extra.get(metric)) for r in rows):
            return metric
    return None


def get_mean(values: list) -> float | None:
    values = [v for v in values if fmt.is_num(v)]
    return sum(values) / len(values) if values else None


def get_quality(runs: list[Row], metric: str, scale: float) -> Summary | None:
    """Mean over seeds with the report's 95% interval (``noise.get_quality_interval``: for accuracy
    it stays inside 0-100 and exists for one seed too), in the report's units."""
    values = [r.extra[metric] * scale for r in runs if r.measured and fmt.is_num(r.extra.get(metric))]
    if not values:
        return None
    interval = noise.get_quality_interval(runs, metric)
    low, high = (None, None) if interval is None else (interval.low * scale, interval.high * scale)
    return Summary(n=len(values), mean=sum(values) / len(values), sd=None, ci_low=low, ci_high=high)


def make_point(label: str, rows: list[Row], *, key: str, metric: str, scale: float, reference: Summary,
               reference_step) -> Point | None:
    """``reference_step``: LoRA's step time with its noise (``noise.get_step_time``) or None."""
    runs = [r for r in rows if r.measured and fmt.is_num(r.extra.get(metric)) and fmt.is_num(r.extra.get(key))]
    if not runs:
        return None
    quality = get_quality(runs, metric, scale)
    step = noise.get_step_time(runs)
    low, high = get_interval(quality)
    ref_low, ref_high = get_interval(reference)
    speedup = reference_step.value / step.value if reference_step and step and step.value else None
    apart = speedup is not None and noise.is_apart(step.value, step.noise, reference_step.value, reference_step.noise)
    return Point(label, get_mean([r.extra[key] for r in runs]), quality, speedup,
                 low <= ref_high and high >= ref_low, apart)


def get_speed_text(p: Point) -> str:
    """", at 1.52× LoRA's speed", or ", at LoRA's speed within noise (0.88×)"; "" where unmeasured."""
    if not p.speedup:
        return ""
    return f", at {p.speedup:.2f}× LoRA's speed" if p.speed_apart else f", at LoRA's speed within noise ({p.speedup:.2f}×)"


def get_sentence(method: str, points: list, metric: str, reference: Summary) -> str:
    """ "SparseLoRA keeps LoRA's accuracy up to x% of base FLOPs skipped, at y× speed", with that
    point's mean beside LoRA's (intervals of few seeds can overlap across a wide gap), or what it loses."""
    name, phrase = NAMES[method], KINDS[method][2]
    kept = [p for p in points if p.overlaps]
    if kept:
        p = max(kept, key=lambda p: p.x)
        return (f"{name} keeps LoRA's {metric} up to {100 * p.x:.1f}% {phrase}{get_speed_text(p)} ({p.label}: "
                f"mean {p.quality.mean:.2f} against LoRA's {reference.mean:.2f}, the 95% intervals overlap).")
    p = min(points, key=lambda p: p.x)
    return (f"{name} does not keep LoRA's {metric} at any point measured: its mildest, {100 * p.x:.1f}% {phrase} "
            f"({p.label}), has {metric} {p.quality.mean:.2f}, outside LoRA's interval.")


def make_plot(frontier: Frontier, *, name: str) -> Plot:
    """Quality (top) and speed-up over LoRA (bottom) against the fraction skipped; LoRA's interval a band."""
    points = sorted(frontier.points, key=lambda p: p.x)
    xs = [100 * p.x for p in points]
    low, high = get_interval(frontier.reference)
    with plt.rc_context(plots.RC):
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.8, 3.8), sharex=True, height_ratios=(2, 1))
        top.axhspan(low, high, color="0.85", label=f"LoRA 95% interval (n={frontier.reference.n})")
        top.axhline(frontier.reference.mean, color="0.5", linewidth=0.8)
        ys = [p.quality.mean for p in points]
        errs = [[p.quality.mean - get_interval(p.quality)[0] for p in points],
                [get_interval(p.quality)[1] - p.quality.mean for p in points]]  # asymmetric: bounded metrics
        top.errorbar(xs, ys, yerr=errs if any(map(any, errs)) else None, fmt="o-", color=plots.COLORS[0], capsize=3,
                     label=NAMES[frontier.method])
        top.set_ylabel(frontier.metric)
        top.legend(fontsize=7, frameon=False, loc="best")
        speed = [(x, p.speedup) for x, p in zip(xs, points) if p.speedup]
        if speed:
            bottom.plot(*zip(*speed), "o-", color=plots.COLORS[1])
        bottom.axhline(1.0, color="0.5", linewidth=0.8)
        bottom.set_ylabel("× LoRA speed")
        bottom.set_xlabel(f"% {KINDS[frontier.method][1]}")
        svg = plots.get_svg(fig, name)
    return Plot(f"{NAMES[frontier.method]} frontier · {frontier.where}", svg,
                "Top: quality (mean over seeds, 95% interval as bars) against the fraction skipped; the grey band "
                "is LoRA's 95% interval over its seeds. Bottom: LoRA's step time divided by the point's.")


def make_frontier_section(rows: list[Row], *, with_plots: bool = True) -> FrontierSection | None:
    """A frontier per sparsity method and dataset x model x hardware x tier with LoRA beside it; None if none."""
    groups: dict = defaultdict(list)
    for r in rows:  # like with like, as in the verdict: a two-rank LoRA is not the one-rank reference
        groups[get_scope_key(r)].append(r)
    section = FrontierSection()
    for key, group in sorted(groups.items()):
        dataset, model, hardware, tier, world, _, device = key
        names = {r.method for r in group}  # plain LoRA, else a LoRA variant every case shares ("lora+tuned")
        ref_name = REFERENCE if REFERENCE in names else min((m for m in names if get_base(m) == REFERENCE),
                                                             default=REFERENCE)
        lora = get_plain_runs([r for r in group if r.method == ref_name and r.measured])
        metric = get_metric(lora)
        if metric is None:
            continue
        scale = 100.0 if metric == "accuracy" else 1.0
        reference = get_quality(lora, metric, scale)
        reference_step = noise.get_step_time(lora)
        for method, (key, _, _) in KINDS.items():
            by_label: dict = defaultdict(list)
            for r in group:
                if r.extra.get("method") == method:
                    by_label[r.method].append(r)
            points = [p for label, runs in sorted(by_label.items())
                      if (p := make_point(label, runs, key=key, metric=metric, scale=scale, reference=reference,
                                          reference_step=reference_step))]
            if not points:
                continue
            shown = "accuracy (%)" if metric == "accuracy" else metric
            gpu = f" ({device})" if device and sum(k[:6] == key[:6] for k in groups) > 1 else ""  # two GPUs, two frontiers
            where = f"{dataset} · {model} · {hardware}{gpu} / {tier}" + (f" · {world} ranks" if world > 1 else "")
            frontier = Frontier(method, where, shown, reference, points,
                                get_sentence(method, points, metric, reference))
            if with_plots:
                frontier.plot = make_plot(frontier, name=f"frontier-{method}-{len(section.frontiers)}")
            section.frontiers.append(frontier)
    if not section.frontiers:
        return None
    section.notes = [
        "Each point is one case of the method (a --sweep value, or the unswept case), averaged over its seeds. "
        "\"Keeps LoRA's accuracy\" means the point's 95% interval overlaps LoRA's: a lenient reading, "
        "not a test of equality. The interval is the results table's: for accuracy the wider of a bootstrap "
        "over seeds and the Wilson interval of the evaluated examples (inside 0-100, one seed included); "
        "for perplexity a t-interval over seeds (with one seed a point is its own interval).",
        "Speed-up is LoRA's step time (median step, mean over seeds) over the point's, on the same hardware "
        "and tier; \"within noise\" where the two step times do not differ beyond their noise.",
    ]
    return section

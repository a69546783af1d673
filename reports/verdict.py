"""The verdict at the top of a report: per dataset (and per model size), the methods on the
Pareto front of quality (or "cost only") against step time against peak memory, each in
one line with its ratios against LoRA, e.g. "qlora: 0.46× memory, 1.40× step time, −0.3 pt".

A method is on the front when no other method of the same model, hardware and tier is at
least as good on every axis and better on one. Random-init (cost-only) runs have no
quality axis. Reads result rows only.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from reports import fmt
from reports.load import Row

COST_ONLY = "random-init (cost only)"
REFERENCE = "lora"
# quality metric -> (higher is better, how a difference is written)
QUALITY_AXES = {"accuracy": (True, "pt"), "perplexity": (False, "ppl")}


@dataclass
class Verdict:
    """The front of one comparison.

    Args:
        dataset: the dataset.
        scope: what the methods share (model, hardware, tier), as text.
        lines: one per method on the front, best step time first.
        left_out: methods that did not finish (with their status), e.g. "full_ft (oom)".
    """

    dataset: str
    scope: str
    lines: list = field(default_factory=list)
    left_out: list = field(default_factory=list)


def is_cost_only(row: Row) -> bool:
    """True for a random-init model's run: its loss is no quality."""
    return row.extra.get("weights") == COST_ONLY or (row.extra.get("protocol") or {}).get("weights") == COST_ONLY


def get_mean(rows: list[Row], get):
    values = [v for v in map(get, rows) if fmt.is_num(v)]
    return sum(values) / len(values) if values else None


def get_step_time(row: Row):
    """Steady-state seconds per step, else the whole training time per step."""
    value = row.extra.get("steady_step_seconds")
    if fmt.is_num(value) and value > 0:
        return value
    seconds, steps = row.extra.get("train_seconds"), row.extra.get("train_steps")
    return seconds / steps if fmt.is_num(seconds) and fmt.is_num(steps) and steps else None


def get_memory(row: Row):
    """Peak GPU memory where measured, else the process's peak CPU RSS."""
    return row.peak_gpu if fmt.is_num(row.peak_gpu) else row.extra.get("peak_cpu_rss_bytes")


def get_point(rows: list[Row], metric: str | None) -> dict:
    """Mean quality, step time and memory of one method's runs."""
    return {
        "quality": get_mean(rows, lambda r: r.extra.get(metric)) if metric else None,
        "time": get_mean(rows, get_step_time),
        "memory": get_mean(rows, get_memory),
    }


def dominates(a: dict, b: dict, higher: bool) -> bool:
    """``a`` at least as good as ``b`` on every axis both have, and better on one."""
    pairs = [(a["time"], b["time"], False), (a["memory"], b["memory"], False)]
    if fmt.is_num(a["quality"]) and fmt.is_num(b["quality"]):
        pairs.append((a["quality"], b["quality"], higher))
    pairs = [(x, y, h) for x, y, h in pairs if fmt.is_num(x) and fmt.is_num(y)]
    if not pairs:
        return False
    no_worse = all((x >= y) if h else (x <= y) for x, y, h in pairs)
    better = any((x > y) if h else (x < y) for x, y, h in pairs)
    return no_worse and better


def get_front(points: dict, higher: bool) -> list[str]:
    """The methods no other method dominates."""
    return [m for m, p in points.items() if not any(dominates(q, p, higher) for n, q in points.items() if n != m)]


def get_line(method: str, point: dict, ref: dict | None, metric: str | None) -> str:
    """"method: 0.46× memory, 1.40× step time, −0.3 pt" (ratios against LoRA; LoRA itself says so)."""
    parts = []
    if ref is None:
        parts.append("no LoRA run to compare with")
    elif method == REFERENCE:
        parts.append("the reference")
    else:
        for key, label in (("memory", "memory"), ("time", "step time")):
            if fmt.is_num(point[key]) and fmt.is_num(ref[key]) and ref[key]:
                parts.append(f"{point[key] / ref[key]:.2f}× {label}")
    if metric is None:
        parts.append("cost only")
    elif ref is not None and method != REFERENCE and fmt.is_num(point["quality"]) and fmt.is_num(ref["quality"]):
        diff = point["quality"] - ref["quality"]
        unit = QUALITY_AXES[metric][1]
        diff = diff * 100 if unit == "pt" else diff
        parts.append(f"{'+' if diff >= 0 else '−'}{abs(diff):.1f} {unit}" if unit == "pt" else
                     f"{'+' if diff >= 0 else '−'}{abs(diff):.2f} {unit}")
    return f"{method}: {', '.join(parts)}"


def get_metric(rows: list[Row]) -> str | None:
    """The quality axis: None for cost-only runs, else accuracy or perplexity, whichever was measured."""
    if all(is_cost_only(r) for r in rows):
        return None
    for metric in QUALITY_AXES:
        if any(fmt.is_num(r.extra.get(metric)) for r in rows):
            return metric
    return None


def get_size_key(scope: tuple, rows: list[Row]):
    """Order scopes by model size where recorded (the scale tier), then by name."""
    params = next(((r.extra.get("protocol") or {}).get("model_params") for r in rows
                   if (r.extra.get("protocol") or {}).get("model_params")), 0)
    return (scope[2], scope[1], params, scope[0])


def get_verdicts(rows: list[Row]) -> list[Verdict]:
    """One verdict per dataset x (model, hardware, tier), datasets in name order."""
    scopes: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        scopes[(r.dataset, (r.model, r.hardware, r.tier))][r.method].append(r)
    verdicts = []
    ordered = sorted(scopes, key=lambda k: (k[0], get_size_key(k[1], [r for v in scopes[k].values() for r in v])))
    for dataset, scope in ordered:
        methods = scopes[(dataset, scope)]
        measured = {m: [r for r in rs if r.measured] for m, rs in methods.items()}
        all_measured = [r for rs in measured.values() for r in rs]
        verdict = Verdict(dataset, " · ".join(scope))
        verdict.left_out = sorted(f"{m} ({', '.join(sorted({r.status for r in rs}))})"
                                  for m, rs in methods.items() if not measured[m])
        if all_measured:
            metric = get_metric(all_measured)
            higher = QUALITY_AXES[metric][0] if metric else True
            points = {m: get_point(rs, metric) for m, rs in measured.items() if rs}
            ref = points.get(REFERENCE)
            front = sorted(get_front(points, higher), key=lambda m: (points[m]["time"] or 0, m))
            verdict.lines = [get_line(m, points[m], ref, metric) for m in front]
        verdicts.append(verdict)
    return verdicts

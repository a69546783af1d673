"""Compare a run with a baseline, case by case: quality, latency and memory changes, flagged past thresholds."""

from collections import defaultdict
from dataclasses import dataclass

from reports import fmt
from reports.load import Row
from reports.memory import get_case_rss
from reports.model import Cell, Column, Regression, RegressionRow


@dataclass(frozen=True)
class Thresholds:
    """What counts as a regression.

    Args:
        quality_drop_pts: accuracy drop, in percentage points.
        perplexity_rise_pct: perplexity increase, in percent.
        time_rise_pct: increase of train time, step latency or inference latency, in percent.
        memory_rise_pct: increase of peak GPU memory or peak CPU RSS, in percent.
    """

    quality_drop_pts: float = 1.0
    perplexity_rise_pct: float = 5.0
    time_rise_pct: float = 10.0
    memory_rise_pct: float = 10.0

    def describe(self) -> list[str]:
        return [
            f"accuracy: drop of more than {self.quality_drop_pts:g} percentage point(s)",
            f"perplexity: rise of more than {self.perplexity_rise_pct:g}%",
            f"train time, step latency p50, inference latency median: rise of more than {self.time_rise_pct:g}%",
            f"peak GPU memory, CPU RSS increase of the case: rise of more than {self.memory_rise_pct:g}%",
            "status: a case that passed in the baseline and does not now",
        ]


# key -> (header, getter, kind); kind picks the threshold.
METRICS = {
    "quality": ("Quality", None, "quality"),
    "train": ("Train time", lambda r: r.extra.get("train_seconds"), "time"),
    "step": ("Step p50", lambda r: r.extra.get("step_seconds_p50"), "time"),
    "infer": ("Inference median", lambda r: r.latency.get("median"), "time"),
    "gpu": ("Peak GPU mem", lambda r: r.peak_gpu, "memory"),
    "rss": ("CPU RSS increase", get_case_rss, "memory"),
}


def get_mean(rows: list[Row], get) -> float | None:
    vals = [v for v in map(get, rows) if fmt.is_num(v)]
    return sum(vals) / len(vals) if vals else None


def get_quality_change(new: list[Row], old: list[Row], th: Thresholds) -> Cell:
    """Accuracy in points (higher is better), else perplexity in percent (lower is better)."""
    for metric in ("accuracy", "perplexity"):
        a = get_mean([r for r in new if r.measured], lambda r, m=metric: r.extra.get(m))
        b = get_mean([r for r in old if r.measured], lambda r, m=metric: r.extra.get(m))
        if a is None or b is None:
            continue
        if metric == "accuracy":
            delta = (a - b) * 100
            return Cell(f"{delta:+.2f} pt", delta, note=f"accuracy {b * 100:.2f}% → {a * 100:.2f}%",
                        flag="regress" if delta < -th.quality_drop_pts else "")
        change = fmt.get_change(a, b)
        if change is None:
            continue
        return Cell(f"{change * 100:+.1f}% ppl", change, note=f"perplexity {b:.3f} → {a:.3f}",
                    flag="regress" if change * 100 > th.perplexity_rise_pct else "")
    return Cell(fmt.DASH, note="no quality measured on one side")


def get_cost_change(new: list[Row], old: list[Row], get, *, limit_pct: float) -> Cell:
    a, b = get_mean(new, get), get_mean(old, get)
    change = fmt.get_change(a, b)
    if change is None:
        return Cell(fmt.DASH)
    return Cell(f"{change * 100:+.1f}%", change, note=f"{fmt.get_number(b, 4)} → {fmt.get_number(a, 4)}",
                flag="regress" if change * 100 > limit_pct else "")


def get_key(row: Row) -> tuple:
    return (row.case_id, row.model)


def compare(current: list[Row], baseline: list[Row], *, thresholds: Thresholds) -> Regression:
    """Per case (id and model), the change from baseline to current; repeated runs are averaged."""
    new, old = defaultdict(list), defaultdict(list)
    for r in current:
        new[get_key(r)].append(r)
    for r in baseline:
        old[get_key(r)].append(r)
    limits = {"time": thresholds.time_rise_pct, "memory": thresholds.memory_rise_pct}
    rows = []
    for key in sorted(set(new) | set(old)):
        if key not in old:
            rows.append(RegressionRow(key[0], key[1], {}, "new"))
            continue
        if key not in new:
            rows.append(RegressionRow(key[0], key[1], {}, "missing"))
            continue
        cells = {"quality": get_quality_change(new[key], old[key], thresholds)}
        for name, (_, get, kind) in METRICS.items():
            if get is not None:
                cells[name] = get_cost_change(new[key], old[key], get, limit_pct=limits[kind])
        was = all(r.status == "passed" for r in old[key])
        now = all(r.status == "passed" for r in new[key])
        statuses = "/".join(sorted({r.status for r in new[key]}))
        cells["status"] = Cell(statuses if was == now else f"{'/'.join(sorted({r.status for r in old[key]}))} → "
                               f"{statuses}", flag="regress" if was and not now else "")
        regressed = any(c.flag == "regress" for c in cells.values())
        rows.append(RegressionRow(key[0], key[1], cells, "regressed" if regressed else "ok"))
    # Regressions first, then the rest, each in case order.
    rows.sort(key=lambda r: (r.status != "regressed", r.case_id))
    columns = [Column(k, f"{h} (Δ)") for k, (h, _, _) in METRICS.items()] + [Column("status", "Status")]
    sources = sorted({r.source.path for r in baseline})
    return Regression(baseline=sources, thresholds=thresholds.describe(), columns=columns, rows=rows,
                      n_regressed=sum(r.status == "regressed" for r in rows))

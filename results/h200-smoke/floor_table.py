"""Usage: python results/h200-smoke/floor_table.py RESULTS.json [...]

Per method x task x hardware: the floor metric's minimum and maximum over seeds, the seeds seen,
the floor and the margin of the lowest seed above it (below it for perplexity ratios), from
pytest-benchmark result files. Cases that failed before reporting a metric are listed by status,
so a missing seed is visible. Reads JSON only; checks the tiny floors against other machines' runs.
"""

import json
import sys
from collections import defaultdict


def load_entries(paths: list[str]) -> list[dict]:
    """Every result entry's extra_info in the given files."""
    entries = []
    for path in paths:
        with open(path) as f:
            entries += [b.get("extra_info", {}) for b in json.load(f).get("benchmarks", [])]
    return entries


def get_rows(entries: list[dict]) -> list[tuple]:
    """One row per (method, dataset, tier, hardware): seeds, min, max, floor, worst margin, statuses."""
    groups = defaultdict(list)
    for e in entries:
        groups[(e.get("method"), e.get("dataset"), e.get("tier"), e.get("hardware"))].append(e)
    rows = []
    for key, group in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        metric = next((e["floor_metric"] for e in group if e.get("floor_metric")), "")
        floor = next((e["floor_value"] for e in group if e.get("floor_value") is not None), None)
        values = [e[metric] for e in group if isinstance(e.get(metric), (int, float))]
        lower_is_better = metric.endswith("ratio")
        worst = (max(values) if lower_is_better else min(values)) if values else None
        margin = None if worst is None or floor is None else (floor - worst if lower_is_better else worst - floor)
        seeds = ",".join(str(e.get("seed")) for e in sorted(group, key=lambda e: e.get("seed", 0)))
        statuses = ",".join(sorted({str(e.get("status")) for e in group}))
        rows.append((*key, seeds, metric, min(values) if values else None, max(values) if values else None, floor, margin, statuses))
    return rows


def fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    header = ("method", "dataset", "tier", "hw", "seeds", "metric", "min", "max", "floor", "margin", "status")
    rows = [tuple(map(fmt, row)) for row in get_rows(load_entries(paths))]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    missed = [r for r in rows if r[9] != "-" and float(r[9]) < 0]
    print(f"\n{len(rows)} groups; {len(missed)} with a seed below its floor: {', '.join(f'{r[0]}-{r[1]}' for r in missed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

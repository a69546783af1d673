"""QLoRA's quality per 4-bit backend: mean and 95% interval over seeds, per dataset, and whether
each backend's mean lies within the other's interval (issue 26's quality target).

Usage: python results/h200-qlora/quality.py RESULT.json [...]
"""

import json
import statistics
import sys
from collections import defaultdict

# two-sided 95% Student t quantiles by degrees of freedom (seeds - 1)
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
METRICS = {"sst2": "accuracy", "wikitext2": "perplexity"}


def get_interval(values: list[float]) -> tuple:
    """(mean, low, high): the t interval of the mean; one value has none (low and high None)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def main(paths):
    values = defaultdict(list)
    for path in paths:
        for b in json.load(open(path)).get("benchmarks", []):
            e = b.get("extra_info") or {}
            metric = METRICS.get(e.get("dataset"))
            backend = e.get("qlora_backend") or (e.get("config") or {}).get("backend")
            if e.get("method") == "qlora" and metric and isinstance(e.get(metric), (int, float)):
                values[(e["dataset"], backend)].append((e.get("seed"), e[metric], e.get("status"),
                                                        e.get("qlora_backend_version"), e.get("qlora_optimizer")))
    intervals = {}
    for (dataset, backend), runs in sorted(values.items()):
        mean, low, high = intervals[(dataset, backend)] = get_interval([v for _, v, *_ in runs])
        seeds = ", ".join(f"seed {s}: {v:.4f} ({st})" for s, v, st, *_ in sorted(runs))
        spread = f"95% [{low:.4f}, {high:.4f}]" if low is not None else "one seed: no interval"
        print(f"{dataset} {METRICS[dataset]} {backend} {runs[0][3]} ({runs[0][4]}): mean {mean:.4f}, "
              f"{spread}; {seeds}")
    for dataset in METRICS:
        a, b = intervals.get((dataset, "bitsandbytes")), intervals.get((dataset, "torchao"))
        if a and b and None in (a[1], b[1]):
            print(f"{dataset}: one seed, so no interval to compare; torchao - bitsandbytes: "
                  f"{b[0] - a[0]:+.4f} ({(b[0] - a[0]) / a[0]:+.3%} of bitsandbytes)")
        elif a and b:
            inside = a[1] <= b[0] <= a[2] and b[1] <= a[0] <= b[2]
            print(f"{dataset}: each backend's mean within the other's 95% interval: {inside} "
                  f"(torchao - bitsandbytes: {b[0] - a[0]:+.4f})")


if __name__ == "__main__":
    main(sys.argv[1:])

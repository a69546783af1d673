"""Usage: python results/h200-tune/summary.py RESULTS.json [...]

A plain-text table of a run, one row per case over its seeds (stdlib only: the GPU machine
has no scipy or matplotlib; ``python -m reports`` draws the full report afterwards):
quality mean ± half-width of the 95% t-interval, the learning rate trained with (and, for
--tune runs, whether it sat at the grid's edge, the dev scores and the tuning device-seconds),
training time, step time (median step, as the report), peak GPU memory, and the fraction skipped (SparseLoRA: base FLOPs;
lora_prune: adapter weights) with the speed-up over LoRA. Then, per sparsity method, the
largest fraction whose interval overlaps LoRA's (the report's frontier sentence).
"""

import json
import math
import statistics
import sys
from collections import defaultdict

# two-sided 95% t quantiles t(0.975, df) for df = 1..10 (standard tables); the normal's beyond
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
SPARSITY = {"sparselora": ("compute_sparsity", "base FLOPs skipped"),
            "lora_prune": ("adapter_weight_sparsity", "adapter weight sparsity")}


def interval(values: list) -> tuple:
    """(mean, half-width of the 95% t-interval; 0 for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, T975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def mean(values: list):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.fmean(values) if values else None


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def main(paths: list[str]) -> None:
    groups = defaultdict(list)
    for path in paths:
        for bench in json.load(open(path))["benchmarks"]:
            e = bench["extra_info"]
            label = e.get("method", "?") + (f"+{e['variant']}" if e.get("variant") else "")
            groups[(e.get("dataset"), e.get("model"), e.get("tier"), label)].append(e)
    print("| dataset | model / tier | case | seeds | status | accuracy % (± 95%) | lr | edge | dev scores | tune s | train s | "
          "step ms | peak GPU MiB | skipped % | × LoRA speed |")
    print("|---|---|---|---:|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    lora_step, table = {}, {}
    for (dataset, model, tier, label), runs in sorted(groups.items(), key=lambda kv: [str(k) for k in kv[0]]):
        if label == "lora":
            lora_step[(dataset, model, tier)] = mean([r.get("step_seconds_p50") for r in runs])
    for (dataset, model, tier, label), runs in sorted(groups.items(), key=lambda kv: [str(k) for k in kv[0]]):
        accs = [100 * r["accuracy"] for r in runs if isinstance(r.get("accuracy"), (int, float))]
        acc = interval(accs) if accs else None
        first = runs[0]
        method = first.get("method")
        key = SPARSITY.get(method, (None,))[0]
        skipped = mean([r.get(key) for r in runs]) if key else None
        step = mean([r.get("step_seconds_p50") for r in runs])
        ref = lora_step.get((dataset, model, tier))
        table[(dataset, model, tier, label)] = (method, acc, skipped, ref / step if ref and step else None)
        scores = first.get("tune_dev_scores")
        statuses = ",".join(sorted({r.get("status", "?") for r in runs}))
        peak = mean([r.get("peak_gpu_allocated_bytes") for r in runs])
        print(f"| {dataset} | {model} / {tier} | {label} | {len(runs)} | {statuses} | "
              f"{f'{acc[0]:.2f} ± {acc[1]:.2f}' if acc else '—'} | {fmt((first.get('config') or {}).get('lr'), '.3g')} | "
              f"{first.get('tune_edge') or ('inside' if scores else '')} | "
              f"{' '.join(fmt(s, '.3f') for s in scores) if scores else ''} | {fmt(first.get('tune_device_seconds'), '.0f')} | "
              f"{fmt(mean([r.get('train_seconds') for r in runs]), '.1f')} | {fmt(step and 1000 * step, '.1f')} | "
              f"{fmt(peak and peak / 2**20, '.0f')} | {fmt(skipped and 100 * skipped, '.1f')} | "
              f"{fmt(table[(dataset, model, tier, label)][3], '.2f')} |")
    for (dataset, model, tier, label), (_, lora_acc, _, _) in table.items():
        if label != "lora" or lora_acc is None:
            continue
        low, high = lora_acc[0] - lora_acc[1], lora_acc[0] + lora_acc[1]
        for method, (key, phrase) in SPARSITY.items():
            points = [(v[2], v[1], v[3], k[3]) for k, v in table.items()
                      if k[:3] == (dataset, model, tier) and v[0] == method and v[1] and v[2] is not None]
            if not points:
                continue
            kept = [p for p in points if p[1][0] - p[1][1] <= high and p[1][0] + p[1][1] >= low]
            if kept:
                x, _, speed, name = max(kept)
                print(f"{dataset} · {model}: {method} keeps LoRA's accuracy up to {100 * x:.1f}% {phrase}"
                      f"{f', at {speed:.2f}× speed' if speed else ''} ({name}).")
            else:
                print(f"{dataset} · {model}: no {method} point's interval overlaps LoRA's ({lora_acc[0]:.2f}%).")


if __name__ == "__main__":
    main(sys.argv[1:])

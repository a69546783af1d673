"""Usage: python results/h200-costuse/summary.py RESULT.json [...]

One line per case of the cost-of-use run: status and quality, inference latency (ms per
batch) with the adapter off / unmerged (timed together), then the plain base / merged (timed
together; +% of merged against the plain base, or the adapter-off base without one), whether the merged
logits matched, decoding tokens/s (batch 1 and 8, unmerged / merged), GPU energy, time to
the floor and forgetting. Reads the benchmark JSON only.
"""

import json
import sys


def num(value, digits=3, scale=1.0):
    return f"{value * scale:.{digits}g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def pct(value):
    return f"{value:+.1f}%" if isinstance(value, (int, float)) else "-"


def line(e: dict) -> str:
    metric = e.get("floor_metric") or "accuracy"
    merge = ("merged=unmerged " + ("yes" if e["merged_logits_equal"] else "NO")
             + f" (|d| {num(e.get('merged_max_abs_diff'), 2)} tol {num(e.get('merged_tolerance'), 2)})"
             if "merged_logits_equal" in e else
             f"merge error: {e['merge_error']}" if e.get("merge_error") else
             f"no merge ({(e.get('merge_unsupported_reason') or '-')[:40]})")
    parts = [
        f"{e.get('case_id')}: {e.get('status')} {metric} {num(e.get(metric), 4)}",
        f"infer ms base/unm | plain/merged {num(e.get('inference_seconds_base'), 4, 1e3)}/"
        f"{num(e.get('inference_seconds_unmerged'), 4, 1e3)} | {num(e.get('inference_seconds_base_plain'), 4, 1e3)}/"
        f"{num(e.get('inference_seconds_merged'), 4, 1e3)}"
        f" (unm vs base {pct(e.get('unmerged_overhead_percent'))}, merged vs "
        f"{'plain' if e.get('inference_seconds_base_plain') else 'base'} {pct(e.get('merged_overhead_percent'))})",
        merge,
    ]
    if "decode_unmerged_b1_tokens_per_second" in e:
        parts.append("decode tok/s b1 " + "/".join(num(e.get(f"decode_{v}_b1_tokens_per_second"), 4) for v in ("unmerged", "merged"))
                     + " b8 " + "/".join(num(e.get(f"decode_{v}_b8_tokens_per_second"), 4) for v in ("unmerged", "merged"))
                     + " ttft b1 ms " + "/".join(num(e.get(f"decode_{v}_b1_ttft_seconds"), 3, 1e3) for v in ("unmerged", "merged")))
    parts.append(f"train {num(e.get('train_joules'), 4)} J ({num(e.get('train_joules_per_1k_tokens'), 3)} J/1k tok"
                 f"{'; ' + e['train_joules_reason'] if e.get('train_joules_reason') else ''}), "
                 f"infer {num(e.get('inference_joules_per_batch'), 3)} J/batch")
    if e.get("quality_curve"):
        parts.append(f"floor met at step {e.get('floor_met_step')} after {num(e.get('floor_met_wall_seconds'), 3)} s "
                     f"({num(e.get('floor_met_joules'), 4)} J), {len(e['quality_curve'])} evals")
    if "forgetting" in e:
        parts.append(f"forgetting {e['forgetting']:+.4f} ({num(e.get('forgetting_loss_base'), 4)} -> "
                     f"{num(e.get('forgetting_loss_trained'), 4)})")
    for key in [f"merge_{route}_{m}" for route in ("dequant_bf16", "requant_4bit") for m in ("accuracy", "perplexity")]:
        if key in e:
            parts.append(f"{key} {num(e[key], 4)}")
    errors = [f"{k}: {e[k]}" for k in e if k.endswith("_error") and e[k] and k != "merge_error"]
    return " | ".join(parts + errors)


def main(paths: list[str]) -> None:
    for path in paths:
        try:
            benches = json.load(open(path))["benchmarks"]
        except (OSError, ValueError, KeyError) as e:
            print(f"{path}: unreadable ({e})")
            continue
        for bench in benches:
            print(line(bench["extra_info"]))


if __name__ == "__main__":
    main(sys.argv[1:])

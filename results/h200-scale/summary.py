"""Print a compact summary of scale-tier results, and the issue's target ratios where both sides ran.

Usage: python results/h200-scale/summary.py RESULT.json [...]
"""

import json
import sys

GIB = 2**30


def load(paths):
    rows = {}
    for path in paths:
        try:
            data = json.load(open(path))
        except (OSError, ValueError) as e:
            print(f"{path}: unreadable ({e})")
            continue
        for b in data.get("benchmarks", []):
            e = b.get("extra_info") or {}
            rows[e.get("case_id", b.get("name"))] = e
    return rows


def num(e, key, scale=1.0, fmt="{:.2f}"):
    v = e.get(key)
    return fmt.format(v / scale) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def main(paths):
    rows = load(paths)
    print(f"{'case':52} {'status':12} {'step ms':>8} {'tok/s':>8} {'MFU':>6} {'peak GiB':>8} "
          f"{'frozen GiB':>10} {'parts/peak':>10} {'loss dec':>8}")
    for cid, e in rows.items():
        print(f"{cid:52} {e.get('status', '?'):12} {num(e, 'steady_step_seconds', 1e-3, '{:.1f}'):>8} "
              f"{num(e, 'steady_tokens_per_second', 1, '{:.0f}'):>8} {num(e, 'mfu', 0.01, '{:.1f}'):>6} "
              f"{num(e, 'peak_gpu_allocated_bytes', GIB):>8} {num(e, 'mem_frozen_bytes', GIB):>10} "
              f"{num(e, 'mem_parts_over_peak'):>10} {num(e, 'loss_decrease', 1, '{:.3f}'):>8}")
        if e.get("status") not in ("passed", "failed_floor") and e.get("error"):
            print(f"    {e['error'][:300]}")
            if e.get("gpu_allocated_after_release_bytes") is not None:
                print(f"    allocated after release: {e['gpu_allocated_after_release_bytes'] / 2**20:.0f} MiB")

    def get(cid, key):
        v = rows.get(cid, {}).get(key)
        return v if isinstance(v, (int, float)) and rows[cid].get("status") in ("passed", "failed_floor") else None

    c = "{}-wikitext2-scale-llama-8b{}-gpu-seed0"
    checks = [
        ("QLoRA/LoRA frozen weights at 8B (target <= 0.40)", c.format("qlora", ""), c.format("lora", ""), "mem_frozen_bytes"),
        ("QLoRA/LoRA training-step peak at 8B, both with grad checkpointing (target <= 0.5)",
         c.format("qlora", "-gc"), c.format("lora", "-gc"), "mem_step_peak_bytes"),
        ("QLoRA/LoRA whole-case peak at 8B (evaluation included), both with grad checkpointing",
         c.format("qlora", "-gc"), c.format("lora", "-gc"), "peak_gpu_allocated_bytes"),
        ("LoRA/QLoRA step time at 8B, grad checkpointing", c.format("lora", "-gc"), c.format("qlora", "-gc"), "steady_step_seconds"),
    ]
    for label, a, b, key in checks:
        x, y = get(a, key), get(b, key)
        print(f"{label}: {x / y:.3f}" if x and y else f"{label}: not measured")
    for v in ("", "-liger", "-liger-gc", "-gc"):
        m = get(c.format("lora", v), "mfu")
        print(f"LoRA{v or ' compiled'} MFU at 8B (target >= 45%): {m * 100:.1f}%" if m else f"LoRA{v} MFU at 8B: not measured")


if __name__ == "__main__":
    main(sys.argv[1:])

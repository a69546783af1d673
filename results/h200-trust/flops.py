"""Per case: status, steady step time, MFU and the FLOPs behind it; for SparseLoRA, its counted
step FLOPs against LoRA's minus the base FLOPs it records as skipped per sparse step.

Usage: python results/h200-trust/flops.py RESULT.json [...]
"""

import json
import sys


def main(paths):
    rows = {}
    for path in paths:
        for b in json.load(open(path)).get("benchmarks", []):
            e = b.get("extra_info") or {}
            rows[e.get("case_id", b.get("name"))] = e
    print(f"{'case':58} {'status':12} {'step ms':>8} {'MFU':>6} {'step GFLOP':>11} {'first GFLOP':>12}  phases")
    for cid, e in rows.items():
        ms = (e.get("steady_step_seconds") or 0) * 1e3
        mfu = e.get("mfu")
        phases = {k: round(v / 1e9, 1) for k, v in (e.get("step_flops_by_phase") or {}).items()}
        print(f"{cid:58} {e.get('status', '?'):12} {ms:8.1f} {(mfu or 0) * 100:5.1f}% "
              f"{(e.get('step_flops') or 0) / 1e9:11.1f} {(e.get('first_step_flops') or 0) / 1e9:12.1f}  {phases}")
    for cid, e in rows.items():
        if not cid.startswith("sparselora-") or not e.get("sparse_steps"):
            continue
        lora = rows.get("lora-" + cid[len("sparselora-"):], {})
        skipped = (e["base_gemm_flops_dense"] - e["base_gemm_flops_actual"]) / e["sparse_steps"]
        sparse = (e.get("step_flops_by_phase") or {}).get("sparse")
        if lora.get("step_flops") and sparse:
            expected = lora["step_flops"] - skipped
            print(f"{cid}: sparse-phase FLOPs {sparse / 1e9:.1f} G; LoRA {lora['step_flops'] / 1e9:.1f} G minus "
                  f"skipped {skipped / 1e9:.1f} G = {expected / 1e9:.1f} G; ratio {sparse / expected:.3f}; "
                  f"estimator {e.get('estimator_flops', 0) / e['sparse_steps'] / 1e9:.2f} G/step; "
                  f"MFU {e.get('mfu', 0) * 100:.1f}% vs LoRA {lora.get('mfu', 0) * 100:.1f}%")


if __name__ == "__main__":
    main(sys.argv[1:])

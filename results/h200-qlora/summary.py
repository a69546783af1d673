"""Print QLoRA's two backends against LoRA from scale-tier results, and the targets of issue 26.

Per case: status, steady step ms, x LoRA's step (the checkpointing cases against LoRA with
checkpointing), MFU as counted, MFU at LoRA's count of the same shape (QLoRA does LoRA's
matmuls; a counter that misses a fused 4-bit op reads low), frozen weights and the training
step's peak (GiB and x LoRA's), the backend, its version, the optimizer and the compile mode.

Usage: python results/h200-qlora/summary.py RESULT.json [...]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "h200-scale"))
from summary import load  # noqa: E402  (the scale scripts' reader: case id -> extra_info)

GIB = 2**30
# QLoRA's scale variants (bench/matrix.py): bitsandbytes, torchao, each with torch's AdamW
VARIANTS = ("", "-torchao", "-adamw", "-torchao-adamw")
DONE = ("passed", "failed_floor")


def get(e: dict, key: str):
    v = e.get(key)
    return v if e.get("status") in DONE and isinstance(v, (int, float)) and not isinstance(v, bool) else None


def get_reference(case_id: str) -> str:
    """LoRA's case of the same shape, with checkpointing where this case has it."""
    shape = case_id.split("-scale-")[1].split("-")[0] + "-" + case_id.split("-scale-")[1].split("-")[1]
    return f"lora-wikitext2-scale-{shape}{'-gc' if '-gc-' in case_id else ''}-gpu-seed0"


def fmt(v, scale=1.0, spec="{:.2f}") -> str:
    return spec.format(v / scale) if v is not None else "-"


def ratio(a, b) -> str:
    return f"{a / b:.3f}" if a is not None and b else "-"


def main(paths):
    rows = load(paths)
    print(f"{'case':50} {'status':8} {'step ms':>8} {'xLoRA':>6} {'MFU':>6} {'MFU@LoRA':>8} {'frozen GiB':>10} "
          f"{'xLoRA':>6} {'peak GiB':>8} {'xLoRA':>6}  backend")
    for cid, e in rows.items():
        ref = rows.get(get_reference(cid), {})
        step, ref_step = get(e, "steady_step_seconds"), get(ref, "steady_step_seconds")
        lora_flops, mfu = get(ref, "step_flops"), get(e, "mfu")
        counted = get(e, "step_flops")
        mfu_at_lora = mfu * lora_flops / counted if cid.startswith("qlora") and mfu and lora_flops and counted else None
        frozen, peak = get(e, "mem_frozen_bytes"), get(e, "mem_step_peak_bytes")
        backend = " ".join(str(e.get(k, "")) for k in ("qlora_backend", "qlora_backend_version"))
        optimizer = str(e.get("qlora_optimizer", "")).rpartition(".")[2]
        compile_mode = (e.get("settings") or {}).get("compile")
        print(f"{cid.removesuffix('-gpu-seed0'):50} {e.get('status', '?'):8} {fmt(step, 1e-3, '{:.1f}'):>8} "
              f"{ratio(step, ref_step):>6} {fmt(mfu, 0.01, '{:.1f}'):>6} {fmt(mfu_at_lora, 0.01, '{:.1f}'):>8} "
              f"{fmt(frozen, GIB):>10} {ratio(frozen, get(ref, 'mem_frozen_bytes')):>6} {fmt(peak, GIB):>8} "
              f"{ratio(peak, get(ref, 'mem_step_peak_bytes')):>6}  {backend.strip()} {optimizer} compile={compile_mode!r}")
        if e.get("status") not in DONE and e.get("error"):
            print(f"    {e['error'][:400]}")

    def best(shape: str, gc: str):
        """The fastest QLoRA variant's step over LoRA's, at ``shape`` (gc "" or "-gc")."""
        lora = get(rows.get(f"lora-wikitext2-scale-{shape}{gc}-gpu-seed0", {}), "steady_step_seconds")
        steps = {v or "bitsandbytes": get(rows.get(f"qlora-wikitext2-scale-{shape}{v}{gc}-gpu-seed0", {}),
                                          "steady_step_seconds") for v in VARIANTS}
        steps = {k: s for k, s in steps.items() if s}
        if not lora or not steps:
            return "not measured"
        name = min(steps, key=steps.get)
        return f"{steps[name] / lora:.3f} ({name.strip('-')})"

    print("\nTargets (one H200, ratios from one run):")
    print(f"  best QLoRA / LoRA step, llama-8b, both with checkpointing (<= 1.10): {best('llama-8b', '-gc')}")
    print(f"  best QLoRA / LoRA step, llama-8b, no checkpointing (<= 1.10): {best('llama-8b', '')}")
    print(f"  best QLoRA / LoRA step, llama-1b (<= 1.3): {best('llama-1b', '')}")
    for v in VARIANTS:
        q, lora = rows.get(f"qlora-wikitext2-scale-llama-8b{v}-gpu-seed0", {}), rows.get(
            "lora-wikitext2-scale-llama-8b-gpu-seed0", {})
        qg, lorag = rows.get(f"qlora-wikitext2-scale-llama-8b{v}-gc-gpu-seed0", {}), rows.get(
            "lora-wikitext2-scale-llama-8b-gc-gpu-seed0", {})
        if not q and not qg:
            continue
        name = v.strip("-") or "bitsandbytes"
        print(f"  {name}: frozen weights / LoRA's at 8B (<= 0.36): "
              f"{ratio(get(q, 'mem_frozen_bytes'), get(lora, 'mem_frozen_bytes'))}; step peak / LoRA's, both "
              f"with checkpointing (<= 0.5): {ratio(get(qg, 'mem_step_peak_bytes'), get(lorag, 'mem_step_peak_bytes'))}")
    for v in ("", "-gc", "-liger", "-liger-gc"):
        mfu = get(rows.get(f"lora-wikitext2-scale-llama-8b{v}-gpu-seed0", {}), "mfu")
        if mfu:
            print(f"  LoRA{v or ' compiled'} MFU at 8B (liger target >= 55%): {mfu * 100:.1f}%")


if __name__ == "__main__":
    main(sys.argv[1:])

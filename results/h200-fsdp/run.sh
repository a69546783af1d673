#!/usr/bin/env bash
# Usage (repository root, on nvidia-h200-x2 or nvidia-h200-x4; nothing carried):
#   bash results/h200-fsdp/run.sh
# The fsdp tier through the shard launcher: the one-GPU LoRA baseline on a worker, then the
# gpus=N cases (full FT on 2 [and 4] GPUs, LoRA on 2) one at a time on every GPU, each under
# torchrun + FSDP2. Everything lands under $OUT; a summary with the targets is printed last.
# About 5-7 minutes on two H200s (each 8B case: ~30 s to start and build, 20 steps).
set -u
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export NCCL_NVLS_ENABLE=0          # NVLink multicast off on these machines
export PEFT_BENCH_LAUNCH_TIMEOUT=200  # per case: a hung rank ends the case, not the script
export PEFT_BENCH_LAUNCH_DIR=$OUT/launch  # each case's spec, record and per-rank torchrun logs
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv | tee "$OUT/gpus.csv"
python -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
timeout -k 15 510 python -m bench.shard --gpus auto --no-warm --no-report --out "$OUT/shard" -- \
  -m "fsdp and gpu" -p no:cacheprovider > "$OUT/shard.log" 2>&1
echo "bench.shard exit: $?"
grep -E "^\[shard\]|PASSED|FAILED|SKIPPED|passed|failed|skipped" "$OUT/shard.log" | tail -n 20
python - "$OUT/shard" <<'PY'
import json, sys
from pathlib import Path
rows = {}
for path in sorted(Path(sys.argv[1]).glob("shard-*.json")):
    for b in json.loads(path.read_text())["benchmarks"]:
        e = b["extra_info"]; rows[e["case_id"]] = e
gib = lambda v: f"{v / 2**30:.1f}" if isinstance(v, (int, float)) else "-"
num = lambda v, f="{:.0f}": f.format(v) if isinstance(v, (int, float)) else "-"
print(f"{'case':<42} {'status':<8} {'world':>5} {'peak GiB per rank':<18} {'step s':>7} {'tok/s':>8} {'tok/s/GPU':>9} {'MFU':>6}")
for cid, e in rows.items():
    per_rank = e.get("per_rank_peak_gpu_allocated_bytes") or []
    print(f"{cid:<42} {e.get('status', '?'):<8} {e.get('world_size', '-'):>5} {' / '.join(map(gib, per_rank)) or '-':<18} "
          f"{num(e.get('steady_step_seconds'), '{:.3f}'):>7} {num(e.get('steady_tokens_per_second')):>8} "
          f"{num(e.get('steady_tokens_per_second_per_gpu')):>9} {num(e.get('mfu') and 100 * e['mfu'], '{:.1f}%'):>6}")
    if e.get("status") not in ("passed", None):
        print(f"  {e.get('error', '')[:300]} (rank {e.get('failed_rank')})")
full = rows.get("full_ft-wikitext2-fsdp-gpu-gpus2-seed0", {})
peak = max(full.get("per_rank_peak_gpu_allocated_bytes") or [float("nan")])
print(f"target: full FT 8B on 2 GPUs completes, per-rank peak <= 120 GiB: status {full.get('status')}, "
      f"peak {gib(peak)} GiB -> {'MET' if full.get('status') == 'passed' and peak <= 120 * 2**30 else 'NOT MET'}")
one, two = (rows.get(f"lora-wikitext2-fsdp-gpu{s}-seed0", {}).get("steady_tokens_per_second") for s in ("", "-gpus2"))
ratio = two / one if one and two else None
print(f"target: LoRA 8B 2-GPU FSDP tokens/s >= 1.7x 1-GPU (4 blocks of 2,048 per GPU): "
      f"{num(ratio, '{:.2f}')}x -> {'MET' if ratio and ratio >= 1.7 else 'NOT MET'}")
PY

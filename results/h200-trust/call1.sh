#!/usr/bin/env bash
# One device call (2026-12-04, third session) for issues 23, 26 and 27:
#  1. the twelve GPU smoke cases left unverified by smoke-3seeds-2026-12-04 (rest.tsv), side by side;
#  2. then, alone on the GPU, six scale-tier cases in one pytest process: LoRA and HiRA at llama-1b
#     (cost of use: base / unmerged / merged latency, decoding), LoRA and QLoRA at llama-3b (issue 26's
#     unmeasured 3B ratio), LoRA at llama-8b plain and with liger-kernel's fused kernels (MFU).
# It also stages the SmolLM2 GGUF's first half in /tmp/kit for the next call (results/h200-speed/env.sh).
# Usage (GPU machine, repository root): bash results/h200-trust/call1.sh
#   carry: .device-kit/smollm2/part-a .device-kit/site/bitsandbytes .device-kit/site/bitsandbytes-0.50.2.dist-info
#          .ci-cache/tokens .device-kit/whl-liger                      (about 54 MiB beside the tracked tree)
OUT=${OUT:-/tmp/out}
source results/h200-qlora/env.sh
git log -1 --format='commit %h %s' 2>/dev/null
SECONDS=0
OUT="$OUT/tiny" bash results/h200-floors/farm.sh results/h200-trust/rest.tsv 12 240 2>&1 | tail -30
echo "tiny: ${SECONDS}s"
C="lora-wikitext2-scale-llama-1b hira-wikitext2-scale-llama-1b lora-wikitext2-scale-llama-3b
   qlora-wikitext2-scale-llama-3b lora-wikitext2-scale-llama-8b lora-wikitext2-scale-llama-8b-liger"
runids scale $((560 - SECONDS)) $(for c in $C; do ids "$c-gpu-seed0"; done) $L
echo "total: ${SECONDS}s"
grep -E "PASSED|FAILED|ERROR|passed|failed" "$OUT/scale.log" | tail -12 | cut -c1-200
python results/h200-scale/summary.py "$OUT/scale.json" | tee "$OUT/scale-summary.txt"
python results/h200-costuse/summary.py "$OUT/scale.json" | tee "$OUT/costuse-summary.txt"
gzip -f "$OUT/scale.log"

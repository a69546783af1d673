# The 8B targets again after run1's fixes (optimizer-state bytes of bitsandbytes' 8-bit AdamW,
# compile without CUDA graphs, compile state reset after a failed case), then SparseLoRA vs
# LoRA step time at 8B and 3B (results/h200-sparselora/speed.sh, one run per shape). One call of
# at most ~9.5 minutes. liger-kernel is left out: with SmolLM2's first GGUF half staged in the
# same call (for the instruct run that follows), it does not fit the 64 MiB a call carries.
# Usage (GPU machine): bash results/h200-scale/targets2.sh
#   carry: .ci-cache/tokens .device-kit/site/bitsandbytes .device-kit/smollm2/part-a
source results/h200-scale/env.sh
start=$(date +%s)
runids targets-a 200 $(ids qlora-wikitext2-scale-llama-8b-gc-gpu-seed0 lora-wikitext2-scale-llama-8b-gc-gpu-seed0 \
  qlora-wikitext2-scale-llama-8b-gpu-seed0) $L
runids targets-b 200 $(ids full_ft-wikitext2-scale-llama-8b-gpu-seed0 lora-wikitext2-scale-llama-8b-gpu-seed0) $L
echo "scale cases: $(( $(date +%s) - start )) s"
SHAPES="llama-8b llama-3b" RUNS=${RUNS:-1} BUDGET=$(( 540 - ($(date +%s) - start) )) bash results/h200-sparselora/speed.sh
echo "total: $(( $(date +%s) - start )) s"
python results/h200-scale/summary.py "$OUT"/targets-*.json
# at most 8 files come back: the JSONs as they are, the logs in one archive
tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log

# The targets at 8B, most important first (one call, about 8 minutes):
#   QLoRA and LoRA with gradient checkpointing (training peak ratio), QLoRA without (frozen
#   weights ratio, eager), full fine-tuning (must end as oom, then the suite goes on), LoRA
#   compiled (MFU), LoRA with liger-kernel's fused kernels (MFU).
# Usage (GPU machine): bash results/h200-scale/targets.sh   (carry .ci-cache/tokens, .device-kit/site, .device-kit/liger)
source results/h200-scale/env.sh
start=$(date +%s)
runids targets-a 260 $(ids qlora-wikitext2-scale-llama-8b-gc-gpu-seed0 lora-wikitext2-scale-llama-8b-gc-gpu-seed0 \
  qlora-wikitext2-scale-llama-8b-gpu-seed0) $L
runids targets-b 240 $(ids full_ft-wikitext2-scale-llama-8b-gpu-seed0 lora-wikitext2-scale-llama-8b-gpu-seed0 \
  lora-wikitext2-scale-llama-8b-liger-gpu-seed0) $L
echo "total: $(( $(date +%s) - start )) s"
python results/h200-scale/summary.py "$OUT"/targets-*.json
python -m reports "$OUT"/targets-*.json -o "$OUT/targets.html" || echo "report: render it on the dev machine"

# If device time is left: the rest of the LoRA family at 8B, with and without gradient
# checkpointing, and LoRA with liger-kernel and gradient checkpointing (one call, about 8 minutes).
# Usage (GPU machine): bash results/h200-scale/more-8b.sh   (carry as targets.sh)
source results/h200-scale/env.sh
start=$(date +%s)
runids more-8b 500 $(for c in lora-liger-gc sparselora-gc sparselora hira-gc lora_prune-gc hira lora_prune; do
  m=${c%%-*}; v=${c#$m}; ids "$m-wikitext2-scale-llama-8b$v-gpu-seed0"; done) $L
echo "total: $(( $(date +%s) - start )) s"
python results/h200-scale/summary.py "$OUT"/more-8b.json

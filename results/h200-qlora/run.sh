# QLoRA at LoRA's speed (issue 26): LoRA vs QLoRA with bitsandbytes (now compiled per layer) vs
# QLoRA with torchao's NF4 tensor (compiled), at llama-1b and llama-8b, with and without
# gradient checkpointing at 8B: nine scale-tier cases in one pytest process (ratios from one
# run), then the summary (step ms, x LoRA, MFU, frozen weights, step peak, the targets).
# Expected: about 30-60 s a case (8B: build, per-layer compilation, 40 steps, evaluation; the
# torchao 8-bit AdamW compiles its step once per parameter shape), 5-8 minutes in all.
#
# Usage (GPU machine, one call): bash results/h200-qlora/run.sh
#   carry: .ci-cache/tokens .device-kit/site/bitsandbytes .device-kit/site/bitsandbytes-0.50.2.dist-info
#          .device-kit/whl-torchao                    (about 10 MiB beside the tracked tree)
# The wheel and the token ids are made as results/h200-qlora/env.sh's header says.
source results/h200-qlora/env.sh
start=$(date +%s)
CASES="lora-wikitext2-scale-llama-1b qlora-wikitext2-scale-llama-1b qlora-wikitext2-scale-llama-1b-torchao
  lora-wikitext2-scale-llama-8b qlora-wikitext2-scale-llama-8b qlora-wikitext2-scale-llama-8b-torchao
  lora-wikitext2-scale-llama-8b-gc qlora-wikitext2-scale-llama-8b-gc qlora-wikitext2-scale-llama-8b-torchao-gc"
runids qlora 560 $(for c in $CASES; do ids "$c-gpu-seed0"; done) $L
echo "total: $(( $(date +%s) - start )) s"
python results/h200-qlora/summary.py "$OUT"/qlora.json | tee "$OUT/summary.txt"
tar -czf "$OUT/logs.tgz" -C "$OUT" qlora.log && rm -f "$OUT/qlora.log"

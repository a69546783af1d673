# The report's scale verdict at 1B/3B/8B (one call, about 8 minutes): LoRA and SparseLoRA at
# each size, so the verdict's SparseLoRA line can be checked: cost only, with the project's
# measured WikiText-2 quality result named beside it (reports/knowledge.json).
# Usage (GPU machine): bash results/h200-scale/verdict.sh   (carry .ci-cache/tokens, .device-kit/site)
source results/h200-scale/env.sh
start=$(date +%s)
runids verdict-a 240 $(ids lora-wikitext2-scale-llama-1b-gpu-seed0 sparselora-wikitext2-scale-llama-1b-gpu-seed0 \
  lora-wikitext2-scale-llama-3b-gpu-seed0 sparselora-wikitext2-scale-llama-3b-gpu-seed0) $L
runids verdict-b 240 $(ids lora-wikitext2-scale-llama-8b-gpu-seed0 sparselora-wikitext2-scale-llama-8b-gpu-seed0) $L
echo "total: $(( $(date +%s) - start )) s"
python results/h200-scale/summary.py "$OUT"/verdict-*.json
python -m reports "$OUT"/verdict-*.json -o "$OUT/verdict.html" || echo "report: render it on the dev machine"
grep -o 'sparselora: [^<]*' "$OUT/verdict.html" || true

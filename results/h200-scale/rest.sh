# The rest of the tier (one call, about 8 minutes): the breakdown add-up test (tiny shape on the
# GPU), every method at 1B, LoRA / QLoRA / SparseLoRA at 3B.
# Usage (GPU machine): bash results/h200-scale/rest.sh   (carry as targets.sh)
source results/h200-scale/env.sh
start=$(date +%s)
timeout -k 10 90 python -m pytest tests/test_scale.py -q -p no:cacheprovider --benchmark-disable -k "gpu" \
  > "$OUT/addup.log" 2>&1; echo "add-up test: $(tail -n 1 "$OUT/addup.log")"
runids rest-1b 260 $(for m in lora qlora sparselora full_ft hira lora_prune; do ids $m-wikitext2-scale-llama-1b-gpu-seed0; done) $L
runids rest-3b 170 $(for m in lora qlora sparselora; do ids $m-wikitext2-scale-llama-3b-gpu-seed0; done) $L
echo "total: $(( $(date +%s) - start )) s"
python results/h200-scale/summary.py "$OUT"/rest-*.json
python -m reports "$OUT"/rest-*.json -o "$OUT/rest.html" || echo "report: render it on the dev machine"

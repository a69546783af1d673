# The scale tier's 1B and 3B cases in one pytest process (the order in which the 3B SparseLoRA
# compile failed before), then LoRA and SparseLoRA at 8B for the MFU check; one GPU call.
# Usage (GPU machine, repo root; carry .ci-cache/tokens and .device-kit/site):
#   bash results/h200-trust/scale.sh
source results/h200-scale/env.sh
set -o pipefail
T=bench/test_finetune.py::test_finetune
ids=()
for shape in llama-1b llama-3b; do
  for m in full_ft lora hira qlora lora_prune sparselora; do ids+=("$T[$m-wikitext2-scale-$shape-gpu-seed0]"); done
done
ids+=("$T[lora-wikitext2-scale-llama-8b-gpu-seed0]" "$T[sparselora-wikitext2-scale-llama-8b-gpu-seed0]")
start=$(date +%s)
timeout -k 10 560 python -m pytest -p no:cacheprovider --benchmark-json="$OUT/scale-1b-3b-8b.json" \
  "${ids[@]}" 2>&1 | tee "$OUT/scale-1b-3b-8b.log" | grep -E "PASSED|FAILED|ERROR|passed|failed|error" | tail -30
echo "total: $(( $(date +%s) - start )) s"
python results/h200-trust/flops.py "$OUT"/scale-*.json

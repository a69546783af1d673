# SmolLM2-135M on WikiText-2 (train: validation split, perplexity: first 1,000 test lines),
# batch 16 x 512. GPU 0: LoRA (all linear, r 16) with peft's defaults (bf16 model, fp32
# adapters, bf16 autocast, eager), then the perf tier's LoRA case (bf16, compiled with CUDA
# graphs, chunked loss) and the same with measurement off. GPU 1: two ablations of the perf
# case (no CUDA graphs; the model's own loss), then the perf tier's other methods (cases
# claimed in /tmp/claims-lm, so that minilm.sh can finish what is left).
# Usage (GPU machine, /tmp/part-a copied there first): bash results/h200-speed/lm.sh
source results/h200-speed/env.sh
cat /tmp/part-a .device-kit/smollm2/part-b > /tmp/smollm2.gguf
python -m fixtures.warm --real
LORA="--set lora.target_modules=all-linear --set lora.r=16 --set lora.dropout=0.0"
run() { local name=$1 limit=$2; shift 2; timeout "$limit" python -m pytest bench $D --benchmark-json="$OUT/$name.json" "$@"; }
(
  export CUDA_VISIBLE_DEVICES=0
  run lm-peft-defaults 130 -m "real and gpu and wikitext2 and lora" --limit-eval 1000 $LORA \
    --set train.batch_size=16 --set train.max_steps=100 --set train.dtype=bf16 --set train.autocast=bf16
  run lm-perf-lora 200 -m "perf and wikitext2 and lora"
  run lm-perf-lora-unmeasured 150 -m "perf and wikitext2 and lora" --set train.measure=false
) > "$OUT/lm-gpu0.log" 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  run lm-perf-lora-no-graphs 120 -m "perf and wikitext2 and lora" --set train.compile=default
  run lm-perf-lora-whole-loss 120 -m "perf and wikitext2 and lora" --set train.loss_chunk=0
  mkdir -p /tmp/claims-lm
  run lm-perf-methods 240 -m "perf and wikitext2 and not lora" --claim-dir /tmp/claims-lm
) > "$OUT/lm-gpu1.log" 2>&1 &
wait
grep -h -E "^(FAILED|ERROR)|passed|failed" "$OUT"/lm-gpu*.log | tail -20
python bench/perf_table.py "$OUT"/lm-*.json

# SmolLM2-135M on WikiText-2 (train: validation split, perplexity: first 1,000 test lines),
# batch 16 x 512. GPU 0: LoRA (all linear, r 16) with peft's defaults (bf16 model, fp32
# adapters, bf16 autocast, eager), then the perf tier's LoRA case (bf16, compiled with CUDA
# graphs, chunked loss), the same with measurement off, and two ablations. GPU 1: the perf
# tier's other methods. Usage (GPU machine, /tmp/smollm2.gguf in place): bash results/h200-speed/lm.sh
source results/h200-speed/env.sh
cat /tmp/part-a .device-kit/smollm2/part-b > /tmp/smollm2.gguf 2>/dev/null || true
python -m fixtures.warm --real
LORA="--set lora.target_modules=all-linear --set lora.r=16 --set lora.dropout=0.0"
run() { local name=$1 limit=$2; shift 2; timeout "$limit" python -m pytest bench $D --benchmark-json="$OUT/$name.json" "$@"; }
(
  export CUDA_VISIBLE_DEVICES=0
  run lm-peft-defaults 150 -m "real and gpu and wikitext2 and lora" --limit-eval 1000 $LORA \
    --set train.batch_size=16 --set train.max_steps=100 --set train.dtype=bf16 --set train.autocast=bf16
  run lm-perf-lora 200 -m "perf and wikitext2 and lora"
  run lm-perf-lora-unmeasured 150 -m "perf and wikitext2 and lora" --set train.measure=false
  run lm-perf-lora-no-graphs 150 -m "perf and wikitext2 and lora" --set train.compile=default
  run lm-perf-lora-whole-loss 150 -m "perf and wikitext2 and lora" --set train.loss_chunk=0
) > "$OUT/lm-gpu0.log" 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  run lm-perf-methods 560 -m "perf and wikitext2 and not lora"
) > "$OUT/lm-gpu1.log" 2>&1 &
wait
grep -h -E "passed|failed|error" "$OUT"/lm-gpu*.log | tail -20
python bench/perf_table.py "$OUT"/lm-*.json

# SmolLM2-135M on WikiText-2 (train: validation split, perplexity: first 1,000 test lines),
# batch 16 x 512, in one call on two GPUs, right after shard-seeds.sh copied /tmp/part-a.
# Phase 1 fills the inductor cache: every compiled case runs 12 steps, all at once
# (SparseLoRA runs eagerly in the perf tier: nothing to fill) (GPU 0's
# on CPU cores 0-15, GPU 1's on 16-31); nothing from it is kept. Phase 2 times each case
# alone on its GPU, from a warm cache (compilation then takes seconds, not minutes):
#   GPU 0: LoRA with peft's defaults (bf16 model, fp32 adapters, bf16 autocast, eager),
#          the perf tier's LoRA case, the same with measurement off, measured again,
#          then HiRA and QLoRA;
#   GPU 1: LoRA with each layer compiled on its own (compile_scope=layers, from a cold
#          cache), the model's own loss (no chunking), no CUDA graphs, then full FT,
#          magnitude pruning and SparseLoRA.
# Usage (GPU machine): bash results/h200-speed/lm-all.sh
source results/h200-speed/env.sh
cat /tmp/part-a .device-kit/smollm2/part-b > /tmp/smollm2.gguf
python -m fixtures.run.warm --real > /dev/null 2>&1
# timeout -k: a SIGTERM that lands during compilation may not end the process
warm() { timeout -k 10 200 python -m pytest bench $D -q --set train.max_steps=12 "$@" > /dev/null 2>&1; }
P="perf and wikitext2"
start=$(date +%s)
(
  taskset -cp 0-15 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0
  warm -m "$P and lora" & warm -m "$P and hira" & warm -m "$P and qlora" &
  warm -m "$P and lora" --set train.loss_chunk=0 & wait
) &
(
  taskset -cp 16-31 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1
  warm -m "$P and full_ft" & warm -m "$P and lora_prune" &
  warm -m "$P and lora" --set train.compile=default & wait
) &
wait
echo "phase 1 (cache filling): $(( $(date +%s) - start )) s"
(
  taskset -cp 0-15 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0
  run lm-peft-defaults 100 -m "real and gpu and wikitext2 and lora" --limit-eval 1000 \
    --set lora.target_modules=all-linear --set lora.r=16 --set lora.dropout=0.0 \
    --set train.batch_size=16 --set train.max_steps=100 --set train.dtype=bf16 --set train.autocast=bf16
  run lm-perf-lora 80 -m "$P and lora"
  run lm-perf-lora-unmeasured 70 -m "$P and lora" --set train.measure=false
  run lm-perf-lora-again 70 -m "$P and lora"
  run lm-perf-hira 70 -m "$P and hira"
  run lm-perf-qlora 80 -m "$P and qlora"
) &
(
  taskset -cp 16-31 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1
  run lm-perf-lora-layers 110 -m "$P and lora" --set train.compile_scope=layers
  run lm-perf-lora-whole-loss 70 -m "$P and lora" --set train.loss_chunk=0
  run lm-perf-lora-no-graphs 70 -m "$P and lora" --set train.compile=default
  run lm-perf-full_ft 70 -m "$P and full_ft"
  run lm-perf-lora_prune 70 -m "$P and lora_prune"
  run lm-perf-sparselora 80 -m "$P and sparselora"
) &
wait
echo "total: $(( $(date +%s) - start )) s"
python bench/perf_table.py "$OUT"/lm-*.json
# a device call returns at most 8 files: everything in one
tar czf "$OUT/lm-all.tgz" -C "$OUT" --exclude=lm-all.tgz .

# SmolLM2-135M on WikiText-2 (train: validation split, perplexity: first 1,000 test lines),
# batch 16 x 512, in one call on two GPUs. GPU 0: LoRA (all linear, r 16) with peft's
# defaults (bf16 model, fp32 adapters, bf16 autocast, eager), then the perf tier's LoRA case
# (bf16, compiled with CUDA graphs, chunked loss), then the same with measurement off (the
# overhead check; it reuses the compiled graphs from the inductor cache). GPU 1: variants of
# the perf case: the model's own loss, each layer compiled on its own (compile_scope=layers),
# and no CUDA graphs. A cold compilation of the whole SmolLM2 takes about two minutes.
# Usage (GPU machine, /tmp/part-a copied there by an earlier call): bash results/h200-speed/lm.sh
source results/h200-speed/env.sh
cat /tmp/part-a .device-kit/smollm2/part-b > /tmp/smollm2.gguf
python -m fixtures.run.warm --real > /dev/null 2>&1
LORA="--set lora.target_modules=all-linear --set lora.r=16 --set lora.dropout=0.0"
# timeout -k: a SIGTERM that lands during compilation may not end the process
(
  export CUDA_VISIBLE_DEVICES=0
  run lm-peft-defaults 130 -m "real and gpu and wikitext2 and lora" --limit-eval 1000 $LORA \
    --set train.batch_size=16 --set train.max_steps=100 --set train.dtype=bf16 --set train.autocast=bf16
  run lm-perf-lora 260 -m "perf and wikitext2 and lora"
  run lm-perf-lora-unmeasured 100 -m "perf and wikitext2 and lora" --set train.measure=false
) &
(
  export CUDA_VISIBLE_DEVICES=1
  run lm-perf-lora-whole-loss 250 -m "perf and wikitext2 and lora" --set train.loss_chunk=0
  run lm-perf-lora-layers 120 -m "perf and wikitext2 and lora" --set train.compile_scope=layers
  run lm-perf-lora-no-graphs 180 -m "perf and wikitext2 and lora" --set train.compile=default
) &
wait
python bench/perf_table.py "$OUT"/lm-*.json

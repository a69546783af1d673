# SmolLM2-135M, WikiText-2, batch 16 x 512 (after shard-oom.sh copied /tmp/part-a): the perf
# tier's LoRA case (bf16, compiled with CUDA graphs, chunked loss), the same with measurement
# off, with the model's own loss, and without CUDA graphs. The peft-defaults baseline ran in
# lm.sh (lm-peft-defaults.json). Usage: bash results/h200-speed/lm-perf.sh
source results/h200-speed/env.sh
cat /tmp/part-a .device-kit/smollm2/part-b > /tmp/smollm2.gguf
python -m fixtures.run.warm --real > /dev/null 2>&1
export CUDA_VISIBLE_DEVICES=0
run() { local name=$1 limit=$2; shift 2; timeout -k 10 "$limit" python -m pytest bench $D --timeout "$limit" --benchmark-json="$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1; tail -1 "$OUT/$name.log"; }
run lm-perf-lora 130 -m "perf and wikitext2 and lora"
run lm-perf-lora-unmeasured 80 -m "perf and wikitext2 and lora" --set train.measure=false
run lm-perf-lora-whole-loss 100 -m "perf and wikitext2 and lora" --set train.loss_chunk=0
run lm-perf-lora-no-graphs 100 -m "perf and wikitext2 and lora" --set train.compile=default
python bench/perf_table.py "$OUT"/lm-*.json

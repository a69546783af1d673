# The perf tier's other methods on WikiText-2 (SmolLM2), sharded over the two GPUs, right after
# lm.sh while the machine still holds /tmp/smollm2.gguf. Usage: bash results/h200-speed/lm-methods.sh
source results/h200-speed/env.sh
timeout -k 10 570 python -m bench.shard --gpus 0,1 --warm-real --out "$OUT/shards" -- \
  -m "perf and wikitext2 and not lora" $D > "$OUT/lm-methods.log" 2>&1
tail -n 8 "$OUT/lm-methods.log"
cp "$OUT"/shards/shard-*.json "$OUT/" && rm -rf "$OUT/shards"
python bench/perf_table.py "$OUT"/shard-*.json

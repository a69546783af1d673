# On the two-GPU machine: the sharding speed-up on a matrix of 54 tiny GPU cases (every method
# on SST-2, IMDB and WikiText-2, seeds 0-2), through the same launcher on one GPU and then on
# two. The caches are warmed once first (a once-per-machine cost), so both runs start warm.
# Also copies the first half of the SmolLM2 GGUF to /tmp for lm-all.sh.
# Usage: bash results/h200-speed/shard-seeds.sh
source results/h200-speed/env.sh
cp .device-kit/smollm2/part-a /tmp/part-a
python -m fixtures.run.warm
M=(-m "smoke and gpu" --seeds 0,1,2)
timeout -k 10 290 python -m bench.shard --no-warm --gpus 0 --out "$OUT/one" -- "${M[@]}" > "$OUT/shard-1gpu.log" 2>&1
timeout -k 10 180 python -m bench.shard --no-warm --gpus 0,1 --out "$OUT/two" -- "${M[@]}" > "$OUT/shard-2gpu.log" 2>&1
tail -n 8 "$OUT/shard-1gpu.log" "$OUT/shard-2gpu.log"
cp "$OUT"/one/shard-0.json "$OUT/seeds-1gpu-0.json"; cp "$OUT"/two/shard-0.json "$OUT/seeds-2gpu-0.json"; cp "$OUT"/two/shard-1.json "$OUT/seeds-2gpu-1.json"
rm -rf "$OUT/one" "$OUT/two"

# On the two-GPU machine: the GPU out-of-memory test, then the tiny GPU cases on SST-2 and
# WikiText-2 (10 cases) through the shard launcher on one GPU and then on two. Also copies the first half
# of the SmolLM2 GGUF to /tmp for lm-perf.sh. Usage: bash results/h200-speed/shard-oom.sh
source results/h200-speed/env.sh
cp .device-kit/smollm2/part-a /tmp/part-a
timeout -k 10 60 python -m pytest tests/test_gpu_oom.py -p no:cacheprovider -q 2>&1 | tail -4
timeout -k 10 100 python -m bench.shard --gpus 0 --out "$OUT/one" -- -m "smoke and gpu and (sst2 or wikitext2)" > "$OUT/shard-1gpu.log" 2>&1
timeout -k 10 70 python -m bench.shard --gpus 0,1 --out "$OUT/two" -- -m "smoke and gpu and (sst2 or wikitext2)" > "$OUT/shard-2gpu.log" 2>&1
tail -n 12 "$OUT/shard-1gpu.log" "$OUT/shard-2gpu.log"
cp "$OUT"/one/shard-0.json "$OUT/shard-1gpu-0.json"; cp "$OUT"/two/shard-0.json "$OUT/shard-2gpu-0.json"; cp "$OUT"/two/shard-1.json "$OUT/shard-2gpu-1.json"
cp "$OUT"/two/report/index.html "$OUT/shard-2gpu-report.html" 2>/dev/null; rm -rf "$OUT/one" "$OUT/two"

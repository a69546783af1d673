# On the two-GPU machine, in two calls back to back: the sharding speed-up on a matrix of 24
# real-tier cases (MiniLM-L6, every method on SST-2, 20,000 training sentences, seeds 0-3,
# eager), through the same launcher on one GPU (call "one") and then on two (call "two").
# A one-GPU run long enough to amortise the launch (docs/speed.md: about 7.5 minutes) and its
# two-GPU twin do not fit in one 10-minute call together. MiniLM-L6 and SST-2 must already be
# staged in /tmp/kit (an earlier call carried them, e.g. minilm-seeds.sh's).
# Usage (GPU machine): bash results/h200-speed/shard-real.sh one|two
source results/h200-speed/env.sh
case $1 in
  one) gpus=0; limit=570 ;;
  two) gpus=0,1; limit=400 ;;
  *) echo "usage: bash $0 one|two" >&2; exit 2 ;;
esac
[ -d "$PEFT_BENCH_MINILM_DIR" ] && [ -d "$DATA/sst2" ] || { echo "MiniLM-L6 or SST-2 not staged in $KIT" >&2; exit 2; }
M=(-m "real and gpu and sst2" --seeds 0,1,2,3 --limit-train 20000 $D)
timeout -k 10 $limit python -m bench.shard --no-warm --no-report --gpus $gpus --out "$OUT/$1" -- "${M[@]}" > "$OUT/shard-real-$1.log" 2>&1
echo "exit $?"
grep -E "^\[shard\]|passed|failed" "$OUT/shard-real-$1.log" | tail -n 8
python bench/perf_table.py "$OUT/$1"/shard-*.json | tail -n 30
tar czf "$OUT/shard-real-$1.tgz" -C "$OUT" --exclude="shard-real-$1.tgz" .

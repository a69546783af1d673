# Sourced by the GPU scripts of results/h200-tune and results/h200-frontier. Once their workers
# have finished, finish NAME merges $OUT/*worker*.json into $OUT/NAME.json, prints the summary
# table (and $OUT/summary.md), and packs the logs into $OUT/logs.tgz (at most 8 files come back).
finish() {
  echo "wall ${SECONDS}s"
  python results/h200-tune/merge.py "$OUT/$1.json" "$OUT"/*worker*.json
  python results/h200-tune/summary.py "$OUT/$1.json" | tee "$OUT/summary.md"
  tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log "$OUT"/*worker*.json
}

# workers N MARK ARGS...: deal the methods ($METHODS, default every registered one) round-robin
# to N pytest processes on the one GPU, each running -m "MARK and (its methods)" with ARGS (one
# process keeps a method's seeds, so its tuning runs once), its JSON as $OUT/worker<i>.json; wait.
workers() {
  local n=$1 mark=$2 i=0 m w; shift 2
  local methods=${METHODS:-$(python -c "from methods import METHODS; print(' '.join(METHODS))")}
  local -a picks
  echo "methods: $methods"
  for m in $methods; do picks[$((i % n))]="${picks[$((i % n))]:+${picks[$((i % n))]} or }$m"; i=$((i + 1)); done
  for w in "${!picks[@]}"; do
    ( timeout -k 60 "${LIMIT:-560}" python -m pytest bench/test_finetune.py $D -m "$mark and (${picks[$w]})" "$@" \
        --benchmark-storage="/tmp/storage-tune-$w" --benchmark-json="$OUT/worker$w.json" > "$OUT/worker$w.log" 2>&1
      echo "worker $w (${picks[$w]}): $(tail -n 1 "$OUT/worker$w.log")" ) &
  done
  wait
}

# claimers NAME N ARGS...: N pytest processes on the one GPU over one fresh --claim-dir (each takes
# the next free case of -m ... in ARGS), each stopped after $LIMIT s (default 560), its JSON and
# log as $OUT/NAME-worker<i>.*; in the background (the caller waits).
claimers() {
  local name=$1 n=$2 claims w; shift 2
  claims=$(mktemp -d "/tmp/claims-$name-XXXX")
  for w in $(seq 0 $((n - 1))); do
    ( OMP_NUM_THREADS=2 PEFT_BENCH_WORKER=$name$w timeout -k 10 "${LIMIT:-560}" python -m pytest bench/test_finetune.py $D "$@" \
        --claim-dir "$claims" --benchmark-storage="/tmp/storage-$name-$w" --benchmark-json="$OUT/$name-worker$w.json" \
        > "$OUT/$name-worker$w.log" 2>&1
      echo "$name worker $w: $(tail -n 1 "$OUT/$name-worker$w.log")" ) &
  done
}

# Sourced by the GPU scripts of results/h200-tune and results/h200-frontier once their workers
# have finished: finish NAME merges $OUT/worker*.json into $OUT/NAME.json, prints the summary
# table (and $OUT/summary.md), and packs the logs into $OUT/logs.tgz (at most 8 files come back).
finish() {
  echo "wall ${SECONDS}s"
  python results/h200-tune/merge.py "$OUT/$1.json" "$OUT"/worker*.json
  python results/h200-tune/summary.py "$OUT/$1.json" | tee "$OUT/summary.md"
  tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log "$OUT"/worker*.json
}

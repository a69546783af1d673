# The sparsity frontier on real SST-2 with MiniLM-L6 (real tier), issue 28: quality against the
# fraction skipped, 3 seeds per point, LoRA's 3 seeds beside them.
#   - SparseLoRA: --sweep sparselora.sparsity_scale over the real tier's schedule (FFN 0.9,
#     attention 0.5 on layers 2-5 of 6; dense_first 1, dense_last 1): compute sparsity.
#   - lora_prune: --sweep lora_prune.target_sparsity: the adapter's weight sparsity.
# One sweep per pytest run, so two groups of WORKERS processes, each group sharing one
# --claim-dir (each process takes the next free case). --limit-train 8000 (LIMIT_TRAIN; 250
# steps at batch 32, recorded, the same for every point; the real tier's SST-2 floor of 0.83
# was set from full epochs, so points may report failed_floor: they are kept). Each training
# stops itself after 90 s (train.time_limit_s).
#
# Carry: .device-kit/minilm-l6 .device-kit/data/sst2
# Run:   bash results/h200-frontier/sst2.sh
# Output under $OUT: frontier.json (both groups' workers merged), summary.md (the table and the
# frontier sentences) and logs.tgz. The report (frontier plots, LoRA's band):
#   python -m reports results/h200-frontier/<run>/frontier.json -o results/h200-frontier/<run>/report.html
source results/h200-speed/env.sh
WORKERS=${WORKERS:-3}
LIMIT_TRAIN=${LIMIT_TRAIN:-8000}
python -m fixtures.run.warm > "$OUT/warm.log" 2>&1 || { echo "warm failed"; tail -20 "$OUT/warm.log"; }
# group NAME MARK SWEEP: WORKERS processes over one claim directory, in the background
group() {
  local name=$1 mark=$2 sweep=$3 claims w
  claims=$(mktemp -d "/tmp/claims-$name-XXXX")
  for w in $(seq 0 $((WORKERS - 1))); do
    ( OMP_NUM_THREADS=2 timeout -k 10 "${LIMIT:-420}" python -m pytest bench/test_finetune.py $D \
        -m "real and gpu and sst2 and ($mark)" --seeds 0,1,2 --limit-train "$LIMIT_TRAIN" --sweep "$sweep" \
        --set train.time_limit_s=90 --set train.inference_rounds=5 --claim-dir "$claims" \
        --benchmark-storage="/tmp/storage-$name-$w" --benchmark-json="$OUT/$name-worker$w.json" > "$OUT/$name-worker$w.log" 2>&1
      echo "$name worker $w: $(tail -n 1 "$OUT/$name-worker$w.log")" ) &
  done
}
SECONDS=0
group sparselora "lora or sparselora" "sparselora.sparsity_scale=${SCALES:-0.2,0.4,0.6,0.8,1.0}"
group lora_prune "lora_prune" "lora_prune.target_sparsity=${POINTS:-0.3,0.5,0.7,0.8,0.9}"
wait
echo "wall ${SECONDS}s"
python results/h200-tune/merge.py "$OUT/frontier.json" "$OUT"/*-worker*.json
python results/h200-tune/summary.py "$OUT/frontier.json" | tee "$OUT/summary.md"
tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log "$OUT"/*-worker*.json

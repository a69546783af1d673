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
source results/h200-tune/finish.sh
WORKERS=${WORKERS:-3}
LIMIT_TRAIN=${LIMIT_TRAIN:-8000}
python -m fixtures.run.warm > "$OUT/warm.log" 2>&1 || { echo "warm failed"; tail -20 "$OUT/warm.log"; }
group() {  # group NAME MARK SWEEP: one sweep's WORKERS processes (claimers), in the background
  claimers "$1" "$WORKERS" -m "real and gpu and sst2 and ($2)" --seeds 0,1,2 --limit-train "$LIMIT_TRAIN" --sweep "$3" \
    --set train.time_limit_s=90 --set train.inference_rounds=5
}
SECONDS=0
group sparselora "lora or sparselora" "sparselora.sparsity_scale=${SCALES:-0.2,0.4,0.6,0.8,1.0}"
group lora_prune "lora_prune" "lora_prune.target_sparsity=${POINTS:-0.3,0.5,0.7,0.8,0.9}"
wait
finish frontier

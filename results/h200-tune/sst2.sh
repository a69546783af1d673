# Every registered method on real SST-2 with MiniLM-L6 (real tier), each at its own best
# learning rate: --tune lr (the method's rate x 0.1, 0.3, 1, 3, 10, each scored on a dev split
# of 10% carved from the training examples, tuned with seed 0), then seeds 0, 1, 2 at the chosen
# rate, scored on the full 872-sentence validation split (which takes no part in the choice).
#
# Sizing (~9 minutes on one H200): a real-tier step of MiniLM-L6 at batch 32 took ~20 ms
# (results/h200-real: 312 steps in 6-7 s), so a full epoch (2,104 steps) ~45 s, and each method
# trains 8 times here (5 grid points + 3 seeds). --limit-train 8000 (LIMIT_TRAIN; recorded,
# the same for every method): the grid trains on 7,200 examples (225 steps), the seeds on
# 8,000 (250 steps), ~5 s each. The methods are dealt round-robin to WORKERS (8) pytest processes
# on the one GPU (a MiniLM step is bound by the host, so processes side by side overlap; one
# process keeps a method's seeds so its tuning runs once). Each training stops itself after
# 90 s (train.time_limit_s: a slow method's grid point then counts as failed, "timeout").
# Shortened protocol: the real tier's 0.83 SST-2 floor was set from full epochs, so some
# methods may report failed_floor here; they are kept, not dropped.
#
# Carry: .device-kit/site .device-kit/minilm-l6 .device-kit/data/sst2
# Run:   bash results/h200-tune/sst2.sh
# Output under $OUT: sst2-tune.json (every worker's results merged), summary.md (the table
# printed at the end), logs.tgz. The report, on a machine with the [report] extra:
#   python -m reports results/h200-tune/<run>/sst2-tune.json -o results/h200-tune/<run>/report.html
source results/h200-speed/env.sh
source results/h200-tune/finish.sh
WORKERS=${WORKERS:-8}
LIMIT_TRAIN=${LIMIT_TRAIN:-8000}
python -m fixtures.run.warm > "$OUT/warm.log" 2>&1 || { echo "warm failed"; tail -20 "$OUT/warm.log"; }
SECONDS=0
OMP_NUM_THREADS=2 LIMIT=560 workers "$WORKERS" "real and gpu and sst2" --tune lr --seeds 0,1,2 --limit-train "$LIMIT_TRAIN" \
  --set train.time_limit_s=90 --set train.inference_rounds=5
finish sst2-tune

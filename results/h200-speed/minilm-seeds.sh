# MiniLM-L6 LoRA on SST-2, one epoch: two more seeds on each side of the HF Trainer
# comparison (the accuracy band of ±0.5 points), and the perf tier's SparseLoRA case (eager).
# GPU 0: the HF Trainer + peft, seeds 1 and 2. GPU 1: the perf tier's LoRA case, seeds 1 and 2,
# then SparseLoRA. Carry .device-kit/site, .device-kit/minilm-l6 and .device-kit/data/sst2.
# Usage (GPU machine): bash results/h200-speed/minilm-seeds.sh
source results/h200-speed/env.sh
(
  taskset -cp 0-15 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0
  for seed in 1 2; do
    timeout -k 10 150 python bench/perf_trainer.py --seed $seed --data-dir "$DATA" --out "$OUT/sst2-trainer-seed$seed.json" > "$OUT/sst2-trainer-seed$seed.log" 2>&1
    grep -E '"(train_seconds|accuracy)"' "$OUT/sst2-trainer-seed$seed.json"
  done
) &
(
  taskset -cp 16-31 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1
  run sst2-perf-lora-seeds 150 -m "perf and sst2 and lora" --seeds 1,2
  run sst2-perf-sparselora 300 -m "perf and sst2 and sparselora"
) &
wait
python bench/perf_table.py "$OUT"/sst2-*.json
tar czf "$OUT/minilm-seeds.tgz" -C "$OUT" --exclude=minilm-seeds.tgz .

# MiniLM-L6 on the full SST-2 train split, one epoch at batch 32, length 64, in one call on two
# GPUs. On GPU 1, phase 1 first fills the inductor cache for the perf tier's non-LoRA methods (a 661-example
# run gives the same two shapes as the full epoch: full batches and the last, partial one).
# Each timed process runs alone on its GPU (GPU 0's on CPU cores 0-15, GPU 1's on 16-31;
# GPU 0's chain starts at once, beside GPU 1's phase 1):
#   GPU 0: LoRA (q/v, r 8) through the HF Trainer + peft (bench/perf_trainer.py), the suite's
#          real-tier case (eager, fp32), the perf tier's case (compiled with CUDA graphs,
#          every batch padded to 64 tokens) from a cold cache, the same with measurement off,
#          measured again;
#   GPU 1: the perf tier's other methods.
# Usage (GPU machine): bash results/h200-speed/minilm-all.sh
source results/h200-speed/env.sh
warm() { timeout -k 10 100 python -m pytest bench $D -q --limit-train 661 "$@" > /dev/null 2>&1; }
P="perf and sst2"
start=$(date +%s)
(
  taskset -cp 0-15 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0
  timeout -k 10 150 python bench/perf_trainer.py --data-dir .device-kit/data --out "$OUT/sst2-trainer.json" > "$OUT/sst2-trainer.log" 2>&1
  tail -n 16 "$OUT/sst2-trainer.log"
  run sst2-real-lora 120 -m "real and gpu and sst2 and lora"
  run sst2-perf-lora 150 -m "$P and lora"
  run sst2-perf-lora-unmeasured 80 -m "$P and lora" --set train.measure=false
  run sst2-perf-lora-again 80 -m "$P and lora"
) &
(
  taskset -cp 16-31 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1
  warm -m "$P and full_ft" & warm -m "$P and hira" & warm -m "$P and qlora" &
  warm -m "$P and lora_prune" & wait
  echo "GPU 1 phase 1 (cache filling): $(( $(date +%s) - start )) s"
  for m in full_ft hira qlora lora_prune sparselora; do run sst2-perf-$m 90 -m "$P and $m"; done
) &
wait
echo "total: $(( $(date +%s) - start )) s"
python bench/perf_table.py "$OUT"/sst2-*.json
tar czf "$OUT/minilm-all.tgz" -C "$OUT" --exclude=minilm-all.tgz .

# MiniLM-L6 + LoRA (q/v, r 8) on the full SST-2 train split, one epoch at batch 32, length 64.
# GPU 0: the HF Trainer + peft reference (bench/perf_trainer.py), then the suite's real-tier
# case (eager, fp32), then the perf tier's case (compiled with CUDA graphs, every batch
# padded to the full 64 tokens: one shape). GPU 1: the perf tier's other methods on SST-2.
# Usage (GPU machine): bash results/h200-speed/minilm.sh
source results/h200-speed/env.sh
run() { local name=$1 limit=$2; shift 2; timeout -k 10 "$limit" python -m pytest bench $D --benchmark-json="$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1; echo "$name: $(tail -n 1 "$OUT/$name.log")"; }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout -k 10 150 python bench/perf_trainer.py --data-dir .device-kit/data --out "$OUT/sst2-trainer.json" > "$OUT/sst2-trainer.log" 2>&1
  tail -n 20 "$OUT/sst2-trainer.log"
  run sst2-real-lora 120 -m "real and gpu and sst2 and lora"
  run sst2-perf-lora 200 -m "perf and sst2 and lora"
) &
(
  export CUDA_VISIBLE_DEVICES=1
  run sst2-perf-methods 560 -m "perf and sst2 and not lora"
) &
wait
python bench/perf_table.py "$OUT"/sst2-*.json

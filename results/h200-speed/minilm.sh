# MiniLM-L6 + LoRA (q/v, r 8) on the full SST-2 train split, one epoch at batch 32, length 64.
# GPU 0: the HF Trainer + peft reference (bench/perf_trainer.py), then the suite's real-tier
# case (eager, fp32), then the perf tier's case (compiled with CUDA graphs, padded to
# multiples of 16), then the perf tier's other methods on SST-2. GPU 1: what lm.sh left of
# the perf tier's methods on WikiText-2 (same claim folder; the machine must still be warm).
# Usage (GPU machine): bash results/h200-speed/minilm.sh
source results/h200-speed/env.sh
run() { local name=$1 limit=$2; shift 2; timeout -k 10 "$limit" python -m pytest bench $D --benchmark-json="$OUT/$name.json" "$@"; }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout -k 10 150 python bench/perf_trainer.py --data-dir .device-kit/data --out "$OUT/sst2-trainer.json"
  run sst2-real-lora 100 -m "real and gpu and sst2 and lora"
  run sst2-perf-lora 100 -m "perf and sst2 and lora"
  run sst2-perf-methods 190 -m "perf and sst2 and not lora"
) > "$OUT/sst2-gpu0.log" 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  [ -f /tmp/smollm2.gguf ] && mkdir -p /tmp/claims-lm && \
    run lm-perf-methods-rest 530 -m "perf and wikitext2 and not lora" --claim-dir /tmp/claims-lm
) > "$OUT/lm-gpu1-rest.log" 2>&1 &
wait
grep -h -E "^(FAILED|ERROR)|passed|failed|\"train_seconds\"|\"accuracy\"" "$OUT"/*.log | tail -20
python bench/perf_table.py "$OUT"/*.json

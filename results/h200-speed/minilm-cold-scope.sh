# MiniLM-L6 LoRA on SST-2, one epoch, from empty compilation caches (one per process): does
# compiling each layer once (compile_scope=layers) instead of the whole model pay off on a cold
# cache? GPU 0: the perf tier's case as declared (whole model), then the HF Trainer + peft, seed 0,
# in the same call. GPU 1: the same case with compile_scope=layers, cold and then warm.
# MiniLM-L6 and SST-2 must be staged in /tmp/kit (carried by this call or an earlier one).
# Usage (GPU machine): bash results/h200-speed/minilm-cold-scope.sh
source results/h200-speed/env.sh
P="perf and sst2 and lora"
(
  taskset -cp 0-15 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-model-$$
  run sst2-perf-lora-cold-model 150 -m "$P"
  timeout -k 10 150 python bench/perf_trainer.py --seed 0 --data-dir "$DATA" --out "$OUT/sst2-trainer-seed0.json" > "$OUT/sst2-trainer-seed0.log" 2>&1
  grep -E '"(train_seconds|accuracy)"' "$OUT/sst2-trainer-seed0.json"
) &
(
  taskset -cp 16-31 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-layers-$$
  run sst2-perf-lora-cold-layers 150 -m "$P" --set train.compile_scope=layers
  run sst2-perf-lora-warm-layers 100 -m "$P" --set train.compile_scope=layers
) &
wait
python bench/perf_table.py "$OUT"/sst2-*.json
tar czf "$OUT/minilm-cold-scope.tgz" -C "$OUT" --exclude=minilm-cold-scope.tgz .

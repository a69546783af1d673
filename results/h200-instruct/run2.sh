# SmolLM2-135M on sst2_instruct, real tier, one epoch (2,104 steps of batch 32), seeds 0, 1, 2:
#   - LoRA (the real tier's: q/v, r 8, lr 1e-3): issue 15's target, >= 0.85 validation accuracy;
#   - SparseLoRA with the same LoRA, context-aware (prompt tokens sparse, answer tokens dense),
#     FFN 0.75 and attention 0.5 on layers 3-28 (dense_first 2, dense_last 2), first 5% of the
#     steps dense: issue 14's quality target, within 1 point of LoRA at >= 40% of base FLOPs skipped.
# Six processes side by side on the one GPU (each launch-bound at batch 32 x ~20 tokens); each
# case stops itself after 400 s of training (status "timeout", recorded), the script after 480 s.
# Carry, on a machine that ran results/h200-scale/targets2.sh in the call before (it staged
# bitsandbytes and the GGUF's first half in /tmp/kit):
#   .device-kit/smollm2/part-b .device-kit/site/gguf .device-kit/data/sst2
# Output under $OUT: one JSON per process, logs.tgz, a summary.
source results/h200-speed/env.sh
[ -d .device-kit/site/gguf ] && [ ! -d "$KIT/site/gguf" ] && mkdir -p "$KIT/site" && cp -r .device-kit/site/gguf "$KIT/site/"
[ -f /tmp/smollm2.gguf ] || { echo "SmolLM2 GGUF incomplete: part-a must be staged by the call before"; exit 3; }
python -m fixtures.run.warm --real > "$OUT/warm.log" 2>&1 || { echo "warm failed"; tail -20 "$OUT/warm.log"; }
SECONDS=0
SPARSE="--set sparselora.ffn_sparsity=0.75 --set sparselora.attn_sparsity=0.5 --set sparselora.dense_first=2 --set sparselora.dense_last=2"
for method in lora sparselora; do
  for seed in 0 1 2; do
    extra=""; [ $method = sparselora ] && extra=$SPARSE
    ( timeout -k 10 480 python -m pytest bench $D -m "real and gpu and sst2_instruct and $method" --seeds $seed \
        --set train.time_limit_s=400 $extra --benchmark-storage="/tmp/storage-$method-$seed" \
        --benchmark-json="$OUT/$method-seed$seed.json" > "$OUT/$method-seed$seed.log" 2>&1
      echo "$method seed $seed: $(tail -n 1 "$OUT/$method-seed$seed.log")" ) &
  done
done
wait
echo "wall ${SECONDS}s"
python results/h200-instruct/summary.py "$OUT"
tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log

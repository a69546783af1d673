# Cost of use on the H200 (issue #27): inference with the adapter off / unmerged / merged and the
# merged-logit check, decoding tokens/s (batch 1 and 8, unmerged and merged), GPU energy
# (NVML counter), time to the floor (train.eval_every) and forgetting (WikiText-2 test).
# Three calls, by STAGE, as a call carries at most 64 MiB (the SmolLM2 GGUF comes in two halves,
# staged in /tmp/kit by results/h200-speed/env.sh while the machine stays warm):
#   STAGE=sst2 bash results/h200-costuse/run.sh     MiniLM-L6, real SST-2, --limit-train 4000 (125 steps)
#     carry: .device-kit/site/bitsandbytes .device-kit/site/bitsandbytes-0.50.2.dist-info
#            .device-kit/minilm-l6 .device-kit/data/sst2                                     (~54 MiB)
#   STAGE=scale bash results/h200-costuse/run.sh    llama-1b / llama-8b shapes (random init, cost only)
#     carry: .ci-cache/tokens .device-kit/smollm2/part-a                                     (~50 MiB)
#   STAGE=smollm2 bash results/h200-costuse/run.sh  SmolLM2-135M, real sst2_instruct, --limit-train 2000
#     (63 steps), every method; LoRA once more with eval_every=8 (time to floor)
#     carry: .device-kit/smollm2/part-b .device-kit/site/gguf .device-kit/site/gguf-0.19.0.dist-info
#            .device-kit/site/bitsandbytes .device-kit/site/bitsandbytes-0.50.2.dist-info
#            .device-kit/data/sst2 .device-kit/data/wikitext2                                (~59 MiB)
# SELECT (a pytest mark expression of methods, e.g. "dora or vera") and LIMIT (seconds) replace a
# stage's methods and time limit, so the other registered methods can be run in further calls
# (with SELECT the smollm2 stage leaves out its LoRA eval_every run).
# The shortened training misses the real tier's floors (status failed_floor); every cost record
# is kept all the same. Output under $OUT: a JSON per run, logs.tgz, and the summary printed.
STAGE=${STAGE:-sst2}
if [ "$STAGE" = scale ]; then source results/h200-scale/env.sh; else source results/h200-speed/env.sh; fi
for piece in gguf gguf-0.19.0.dist-info bitsandbytes bitsandbytes-0.50.2.dist-info; do
  [ -d ".device-kit/site/$piece" ] && [ ! -d "$KIT/site/$piece" ] && mkdir -p "$KIT/site" && cp -r ".device-kit/site/$piece" "$KIT/site/"
done
SECONDS=0
case "$STAGE" in
  sst2)
    run sst2 "${LIMIT:-500}" -m "real and gpu and sst2 and (${SELECT:-full_ft or lora or hira or qlora or lora_prune})" --limit-train 4000 ;;
  scale)
    runids scale 520 $(ids lora-wikitext2-scale-llama-1b-gpu-seed0 hira-wikitext2-scale-llama-1b-gpu-seed0 \
      lora-wikitext2-scale-llama-8b-gpu-seed0) $L ;;
  smollm2)
    [ -f /tmp/smollm2.gguf ] || { echo "SmolLM2 GGUF incomplete: part-a must be staged by the call before"; exit 3; }
    python -m fixtures.run.warm --real > "$OUT/warm.log" 2>&1 || { echo "warm failed"; tail -20 "$OUT/warm.log"; }
    run smollm2 "${LIMIT:-330}" -m "real and gpu and sst2_instruct and (${SELECT:-full_ft or lora or hira or qlora or lora_prune or sparselora})" \
      --limit-train 2000
    [ -n "${SELECT:-}" ] || run smollm2-eval-every 150 -m "real and gpu and sst2_instruct and lora" --limit-train 2000 --set train.eval_every=8 ;;
  *) echo "STAGE=$STAGE: use sst2, scale or smollm2"; exit 2 ;;
esac
echo "stage $STAGE: ${SECONDS}s"
python results/h200-costuse/summary.py "$OUT"/*.json
tar -czf "$OUT/logs-$STAGE.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log

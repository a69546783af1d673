# SmolLM2-135M on sst2_instruct, real tier, LoRA, seeds 0, 1, 2: one epoch of the real tier's
# budget (67,349 SST-2 training examples, batch 32: 2,104 steps; lr 1e-3, q/v LoRA r 8), each
# case scoring the 872 validation prompts before training (accuracy_zero_shot) and after.
# The three seeds run as three processes side by side on the one GPU: a 135M model at batch
# 32 x ~17 tokens (SmolLM2: SST-2 sentences average 11 tokens, at most 68) is bound by kernel
# launches, not by the GPU, so they barely slow each other.
# Runtime estimate: the real tier's eager LoRA on SmolLM2 ran 150 steps of 8 x 512 tokens in 25 s
# (results/h200-real/real-wikitext2.json, 0.17 s/step); a step here has a quarter of the tokens,
# launch-bound at ~0.06-0.1 s: 2,104 steps in 2-3.5 min, 3 side by side <= ~5 min, plus ~1 min for
# the GGUF conversion and start-up. Each case stops itself after 390 s of training
# (train.time_limit_s, status "timeout", recorded) and the whole script after 460 s.
# Carry: .device-kit/site, .device-kit/data/sst2 and .device-kit/smollm2/part-a in one call, then
# .device-kit/smollm2/part-b in the next (env.sh stages both in /tmp/kit and joins the GGUF):
#   call 1: bash results/h200-instruct/run.sh      (stages part-a; stops: the GGUF is incomplete)
#   call 2: PEFT_BENCH_GIT_COMMIT=<sha> bash results/h200-instruct/run.sh
# Output under $OUT: sst2_instruct-seedN.json and .log, instruct.tgz (all of them), a summary.
source results/h200-speed/env.sh
[ -f /tmp/smollm2.gguf ] || { echo "SmolLM2 GGUF incomplete: carry .device-kit/smollm2/part-b in the next call"; exit 3; }
python -m fixtures.warm --real > "$OUT/warm.log" 2>&1
SECONDS=0
for seed in 0 1 2; do
  ( timeout -k 10 460 python -m pytest bench $D -m "real and gpu and sst2_instruct and lora" --seeds $seed \
      --set train.time_limit_s=390 --benchmark-storage="$OUT/storage-$seed" \
      --benchmark-json="$OUT/sst2_instruct-seed$seed.json" > "$OUT/sst2_instruct-seed$seed.log" 2>&1
    echo "seed $seed: $(tail -n 1 "$OUT/sst2_instruct-seed$seed.log")" ) &
done
wait
echo "wall ${SECONDS}s"
python - "$OUT" <<'PY'
import glob, json, sys
for path in sorted(glob.glob(f"{sys.argv[1]}/sst2_instruct-seed*.json")):
    for b in json.load(open(path))["benchmarks"]:
        e = b["extra_info"]
        print(f"{e['case_id']}: status {e.get('status')} accuracy {e.get('accuracy')} zero-shot "
              f"{e.get('accuracy_zero_shot')} f1 {e.get('f1')} steps {e.get('train_steps')} "
              f"train {e.get('train_seconds')} s")
PY
tar -czf "$OUT/instruct.tgz" -C "$OUT" $(cd "$OUT" && ls *.json *.log)

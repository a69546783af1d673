# The SparseLoRA frontier on sst2_instruct (SmolLM2-135M-Instruct, real tier): quality against the
# fraction of base FLOPs skipped, 3 seeds per point, LoRA's 3 seeds beside them.
#
# Points: one --sweep of sparselora.sparsity_scale (SCALES, default 0.2,0.4,0.6,0.8,1.0) over a
# base schedule of FFN 0.9 and attention 0.6 on layers 2-27 (dense_first 2, dense_last 2),
# context-aware (the prompt sparse, the answer dense; the tier's instruct option), the first 5%
# of the steps dense: FFN 0.18-0.9 and attention 0.12-0.6 together. run3/run4's schedule (FFN
# 0.65, attention 0.3) skipped 45.5% of base FLOPs. DENSE_SCORED=true (with context_aware=true, which it needs) runs the last prompt
# position dense too (sparselora.dense_scored). GRADIENT=reference: the paper's inexact gradient.
# LIMIT: seconds per worker (default 560); EXTRA: more pytest options (e.g. --set train.cost_of_use=false).
#
# Sizing (~9 minutes on one H200): a full epoch is 2,104 steps (~5 min for LoRA, ~8 for SparseLoRA
# alone, results/h200-instruct). Here --limit-train 6400 (LIMIT_TRAIN; recorded, the same for every
# point): 200 steps, ~30-50 s per case with processes side by side (SparseLoRA ran 4.5 steps/s
# with three side by side, bound by the host), plus the model load and two evaluations of the
# 872 validation sentences (zero-shot and trained). The 18 cases (LoRA x 3 seeds, 5 points x 3
# seeds) are shared by WORKERS pytest processes through one --claim-dir (each takes the next free
# case). Each training stops itself after 150 s (train.time_limit_s; status "timeout", scored as
# far as trained). A fifth of an epoch is a shortened protocol: the 0.85 floor was set from
# full epochs, so cases may report failed_floor; they are kept.
#
# Carry, on a machine that staged the GGUF's first half in /tmp/kit in the call before (the
# device-kit header: a call carrying .device-kit/smollm2/part-a, e.g. `source results/h200-speed/env.sh`):
#   .device-kit/smollm2/part-b .device-kit/site/gguf .device-kit/site/gguf-0.19.0.dist-info .device-kit/data/sst2
# Run:   bash results/h200-frontier/sst2_instruct.sh
# Output under $OUT: frontier.json (merged), summary.md (the table and the frontier sentence), logs.tgz.
# The report (frontier plot with LoRA's band), on a machine with the [report] extra:
#   python -m reports results/h200-frontier/<run>/frontier.json -o results/h200-frontier/<run>/report.html
source results/h200-speed/env.sh
source results/h200-tune/finish.sh
for piece in gguf gguf-0.19.0.dist-info; do
  [ -d ".device-kit/site/$piece" ] && [ ! -d "$KIT/site/$piece" ] && mkdir -p "$KIT/site" && cp -r ".device-kit/site/$piece" "$KIT/site/"
done
[ -f /tmp/smollm2.gguf ] || { echo "SmolLM2 GGUF incomplete: part-a must be staged by the call before"; exit 3; }
WORKERS=${WORKERS:-6}
LIMIT_TRAIN=${LIMIT_TRAIN:-6400}
SCALES=${SCALES:-0.2,0.4,0.6,0.8,1.0}
python -m fixtures.run.warm --real > "$OUT/warm.log" 2>&1 || { echo "warm failed"; tail -20 "$OUT/warm.log"; }
extra="--set sparselora.ffn_sparsity=0.9 --set sparselora.attn_sparsity=0.6 --set sparselora.dense_first=2 --set sparselora.dense_last=2"
[ -n "${DENSE_SCORED:-}" ] && extra="$extra --set sparselora.context_aware=true --set sparselora.dense_scored=$DENSE_SCORED"
[ -n "${GRADIENT:-}" ] && extra="$extra --set sparselora.gradient=$GRADIENT"
SECONDS=0
claimers frontier "$WORKERS" -m "real and gpu and sst2_instruct and (lora or sparselora)" --seeds 0,1,2 --limit-train "$LIMIT_TRAIN" \
  --sweep "sparselora.sparsity_scale=$SCALES" $extra --set train.time_limit_s=150 --set train.inference_rounds=5 ${EXTRA:-}
wait
finish frontier

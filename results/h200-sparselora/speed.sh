#!/bin/bash
# SparseLoRA (preset math) vs LoRA step time on random-init Llama shapes (cost only), issue 14 item 6.
# From the repository root on one H200 (nothing carried; needs only torch + transformers + peft):
#   SHAPES="llama-8b llama-3b llama-1b" bash results/h200-sparselora/speed.sh
# Each decoder layer compiles on its own (--compile-scope layers): one graph per distinct layer
# of the schedule, where a whole-model compile of both methods at 8B did not finish in 358 s.
# The paper's protocol: batch 8 x 512 tokens, the last 128 positions dense (context_length 384),
# 20 warm-up + 50 timed steps per run, RUNS runs (>= 3: best and worst dropped), both methods
# compiled (COMPILE=reduce-overhead, the default, or default) on the same batches, LoRA q/k/v/o r 32 alpha 64
# for both. One process per shape (memory freed between). JSON + log per shape under $OUT.
# EXTRA: more options for bench/perf_sparselora.py, e.g. EXTRA="--gradients exact,reference --fixed-selection"
# (SparseLoRA's reference gradient timed too, and its step with the estimator off).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-cache
SHAPES=${SHAPES:-"llama-8b llama-3b llama-1b"}
SCOPE=${SCOPE:-layers}
RUNS=${RUNS:-3}
COMPILE=${COMPILE:-reduce-overhead}  # CUDA graphs: speed-run2; default (no graphs): speed-run1
BUDGET=${BUDGET:-520}  # seconds for the whole script: a shape that cannot start with 60 s left is skipped
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
python -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
start=$(date +%s)
for shape in $SHAPES; do
  left=$(( BUDGET - ($(date +%s) - start) ))
  if [ "$left" -lt 60 ]; then echo "$shape: skipped ($left s left)"; continue; fi
  t0=$(date +%s)
  timeout -k 10 "$left" python bench/perf_sparselora.py --shape "$shape" --preset math --context-length 384 \
    --compile "$COMPILE" --compile-scope "$SCOPE" --runs "$RUNS" --warmup 20 --steps 50 --sweep '' ${EXTRA:-} \
    --json "$OUT/speed-$shape.json" > "$OUT/speed-$shape.log" 2>&1
  rc=$?
  echo "== $shape: rc $rc, $(( $(date +%s) - t0 )) s"
  grep -E "^(lora|sparselora)( |  *\\()|set up|ms/step|estimator|^  (gather|gemm|scatter|attention|all_gemms|lm_head)|^RESULT|Error" "$OUT/speed-$shape.log" | head -20
done

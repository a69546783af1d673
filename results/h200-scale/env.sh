# Sourced by the scale scripts beside it (GPU machine, repository root). On top of the speed
# scripts' kit (results/h200-speed/env.sh: bitsandbytes in .device-kit/site), the scale tier
# needs its WikiText-2 token ids (carried: .ci-cache/tokens, built here with python -m fixtures.data.scale)
# and, for the fused-kernel cases, liger-kernel (carried: .device-kit/liger, its package folder).
source results/h200-speed/env.sh
export PEFT_BENCH_CACHE=$PWD/.ci-cache
[ -d .device-kit/liger ] && export PYTHONPATH=$PWD/.device-kit/liger:$PYTHONPATH
ls .ci-cache/tokens/*.pt > /dev/null || echo "no token ids under .ci-cache/tokens: the GPU cases will skip"
python -c "import liger_kernel; print('liger-kernel found')" 2>/dev/null || echo "no liger-kernel: the liger cases will record an error"
T=bench/test_finetune.py::test_finetune
# ids NAME...: the node ids of scale cases, e.g. ids lora-wikitext2-scale-llama-8b-gpu-seed0
ids() { for c in "$@"; do printf '%s[%s] ' "$T" "$c"; done; }
# every case stops at 150 s of training (status "timeout"), compilation included
L="--set train.time_limit_s=150"
# runids NAME LIMIT NODEIDS... [PYTEST_ARGS]: one timed pytest run of the named cases only (no
# bench/ folder argument: that would collect the whole matrix), JSON and log under $OUT
# (a run killed at LIMIT leaves no JSON: its finished cases are in the journal, copied beside it)
runids() { local name=$1 limit=$2; shift 2; touch "/tmp/run-$name.start"; timeout -k 10 "$limit" python -m pytest -p no:cacheprovider \
  --benchmark-json="$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1; echo "$name: $(tail -n 1 "$OUT/$name.log")"
  keep_journal "$name"; }

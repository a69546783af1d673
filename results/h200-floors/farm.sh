# Many tiny-tier pytest processes side by side on one GPU machine (16 CPU cores, one GPU):
# each line of a job list is "NAME<TAB>pytest arguments"; every job gets its own results JSON
# and log, the cases' caches are warmed once first. Afterwards compact.py merges the JSONs
# into one small file and prints the floor table and the learning-rate choices.
# Carry .device-kit/site (bitsandbytes for the QLoRA cases; the tiny tier needs no models or data).
# Usage (GPU machine, repository root): bash results/h200-floors/farm.sh JOBS.tsv [PARALLEL] [JOB_TIMEOUT_S]
export PYTHONPATH=$PWD/.device-kit/site:$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PEFT_BENCH_CACHE=/tmp/farm-cache
OUT=${OUT:-/tmp/out}
JOBS=$1 PARALLEL=${2:-14} JOB_TIMEOUT=${3:-500}
work=/tmp/farm && mkdir -p "$work" "$OUT"
python -c "import torch, transformers, peft, bitsandbytes; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'bitsandbytes', bitsandbytes.__version__)" \
  || { echo "bitsandbytes does not import: carry .device-kit/site"; exit 1; }
git log -1 --format='commit %h %s' 2>/dev/null
python -m fixtures.run.warm > "$work/warm.log" 2>&1 || { tail -20 "$work/warm.log"; exit 1; }
run_job() {
  local name=$1; shift
  local start=$SECONDS
  timeout -s INT -k 30 "$JOB_TIMEOUT" python -m pytest bench -p no:cacheprovider -q -rfE \
    --benchmark-storage="$work/storage-$name" --benchmark-json="$work/$name.json" "$@" > "$work/$name.log" 2>&1
  echo "[$name] rc=$? $((SECONDS - start)) s: $(tail -n 1 "$work/$name.log")"
}
export -f run_job && export work JOB_TIMEOUT
grep -v '^#' "$JOBS" | grep . | xargs -d '\n' -P "$PARALLEL" -I{} bash -c 'eval "run_job $1"' _ {}
grep -h -E "^(FAILED|ERROR)" "$work"/*.log | cut -c1-220
python results/h200-floors/compact.py "$OUT/compact.json" "$work"/*.json | tee "$OUT/table.txt"
tar czf "$OUT/logs.tgz" -C "$work" $(cd "$work" && ls *.log)
tar czf "$OUT/json.tgz" -C "$work" $(cd "$work" && ls *.json)   # the raw results, for the report

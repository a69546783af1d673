# The tiny tier's floors on the GPU over seeds 0, 1 and 2: every smoke GPU case (all methods,
# QLoRA included, so bitsandbytes must import from .device-kit/site), one pytest process per seed
# side by side (own cache, own CPU cores), then the per method x task min/max table.
# Carry .device-kit/site (the tiny tier needs no models or data).
# Usage (GPU machine, repository root): bash results/h200-smoke/floors.sh
export PYTHONPATH=$PWD/.device-kit/site:$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python -c "import torch, transformers, peft, bitsandbytes; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'bitsandbytes', bitsandbytes.__version__)" \
  || { echo "bitsandbytes does not import: carry .device-kit/site (QLoRA cases would skip)"; exit 1; }
git log -1 --format='commit %h %s' 2>/dev/null
for seed in 0 1 2; do
  (
    taskset -cp $((seed * 5))-$((seed * 5 + 4)) $BASHPID > /dev/null
    PEFT_BENCH_CACHE=/tmp/floors-cache-$seed timeout -k 10 540 python -m pytest bench -m "smoke and gpu" --seeds $seed \
      -p no:cacheprovider -q -rfEs --benchmark-json="$OUT/floors-seed$seed.json" > "$OUT/floors-seed$seed.log" 2>&1
    echo "seed $seed: $(tail -n 1 "$OUT/floors-seed$seed.log")"
  ) &
done
wait
grep -h -E "^(FAILED|ERROR|SKIPPED)" "$OUT"/floors-seed*.log
python results/h200-smoke/floor_table.py "$OUT"/floors-seed*.json | tee "$OUT/floors-table.txt"

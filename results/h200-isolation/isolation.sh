#!/usr/bin/env bash
# On one H200, from the repository root: bash results/h200-isolation/isolation.sh
# 1. A case that fails (a missed floor, an error) while holding 1 GiB on the GPU frees it before
#    the next case's setup check (tests/test_isolation.py, the real torch.cuda check).
# 2. A tiny GPU case whose floor is forced to fail (full_ft.lr=1e-12: nothing learns; it runs first), then the next
#    case in the same process: it must run (passed or failed_floor), never "GPU already holds".
# Logs and the JSON go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest tests/test_isolation.py -p no:cacheprovider -q -rA 2>&1 | tee "$OUT/unit.log" | tail -n 8
python -m pytest bench -m "tiny and gpu and sst2 and (lora or full_ft) and not qlora" -p no:cacheprovider -q \
  --set full_ft.lr=1e-12 --benchmark-json="$OUT/isolation.json" --benchmark-storage="$OUT/store" 2>&1 \
  | tee "$OUT/bench.log" | tail -n 8
grep -c "GPU already holds" "$OUT/bench.log" | sed 's/^/lines with "GPU already holds" (expected 0): /'

#!/usr/bin/env bash
# Registry methods at the llama-8b scale shape on one H200, or an 80 GB H100 since the 8B cases ask
# for 78 GiB (full fine-tuning asks for 130 and skips there) (random init, cost only: step time,
# tokens/s, MFU, peak memory by part), in one pytest process; the 8B second cases (gc, liger) and
# QLoRA's backend variants are left out. Run from the repository root:
#   bash results/h200-methods/scale8b.sh                                  # every method
#   SELECT="dora or vera or oft" bash results/h200-methods/scale8b.sh     # a subset, if all do not fit
#   EXTRA="--set train.cost_of_use=false" bash results/h200-methods/scale8b.sh
# An 8B case takes about 50 s with its cost of use (merged inference and decoding, ~20-35 s of it,
# results/h200-qlora/run-2026-12-04b), so all 22 do not fit one 10-minute call: EXTRA can leave
# cost of use out, and every case stops its training at LIMIT_S (default 60 s, status "timeout").
# The run gets SIGTERM at LIMIT and SIGKILL 60 s later: a case stops at its next step, and pytest
# writes the JSON only if it ends itself (NAME names a second run's files).
# Carry: .ci-cache/tokens, .device-kit/site/bitsandbytes(+dist-info) for QLoRA; anything else this
# call stages for the next (results/h200-qlora/env.sh). Logs and the results JSON go to $OUT.
set -uo pipefail
source results/h200-qlora/env.sh   # staging, bitsandbytes/torchao, tokens; sets OUT, D and run()
SELECT=${SELECT:-}
EXTRA=${EXTRA:-}
MARK="scale and gpu${SELECT:+ and ($SELECT)}"
SECONDS=0
KILL_AFTER=60 run scale8b${NAME:+-$NAME} ${LIMIT:-540} -m "$MARK" -k "llama-8b and not -gc- and not -liger and not torchao and not adamw" \
  -q -rA --set train.time_limit_s=${LIMIT_S:-60} $EXTRA
echo "wall ${SECONDS}s"
grep -E "^(PASSED|FAILED|SKIPPED|ERROR)" "$OUT/scale8b${NAME:+-$NAME}.log" | sed 's/ - .*//' | tail -40
python results/h200-scale/summary.py "$OUT/scale8b${NAME:+-$NAME}.json" | tee "$OUT/scale8b${NAME:+-$NAME}-summary.txt"
gzip -f "$OUT/scale8b${NAME:+-$NAME}.log"

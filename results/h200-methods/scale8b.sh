#!/usr/bin/env bash
# Every registry method at the llama-8b scale shape on one H200 (random init, cost only: step
# time, tokens/s, MFU, peak memory by part), in one pytest call; the 8B second cases (gc, liger)
# are left out. Run from the repository root:
#   bash results/h200-methods/scale8b.sh                       # every method
#   SELECT="dora or vera or oft" bash results/h200-methods/scale8b.sh   # a subset, if all do not fit
# Logs and the results JSON go to $OUT (env.sh's default /tmp/out).
set -uo pipefail
. results/h200-speed/env.sh  # .device-kit site, models, data; sets OUT, D (--data-dir) and run()
SELECT=${SELECT:-}
MARK="scale and gpu${SELECT:+ and ($SELECT)}"
run scale8b 590 -m "$MARK" -k "llama-8b and not -gc- and not -liger" -q -rA
grep -E "PASSED|FAILED|SKIPPED|ERROR" "$OUT/scale8b.log" | sed 's/ - .*//' | tail -40

#!/usr/bin/env bash
# One short device call (2026-12-04, third session, the budget's last ~5 minutes) for issue 23: the
# perf-tier SST-2 cases of QLoRA and LoRA (MiniLM-L6, bf16, compiled), one process, stopped with
# SIGINT at 220 s so that finished cases are written and the rest recorded as interrupted.
# Usage (GPU machine, repository root): bash results/h200-trust/call4.sh
#   carry: .device-kit/minilm-l6 .device-kit/site/bitsandbytes .device-kit/site/bitsandbytes-0.50.2.dist-info
#          .device-kit/data/sst2
OUT=${OUT:-/tmp/out}
source results/h200-speed/env.sh
git log -1 --format='commit %h %s' 2>/dev/null
SECONDS=0
timeout -s INT -k 15 220 python -m pytest bench $D -rA --benchmark-json="$OUT/perf-sst2.json" \
  -m "gpu and perf and sst2 and (qlora or lora)" > "$OUT/perf-sst2.log" 2>&1
echo "rc=$? ${SECONDS}s: $(tail -n 1 "$OUT/perf-sst2.log")"
grep -E "^(PASSED|FAILED|ERROR|SKIPPED)|steps/s" "$OUT/perf-sst2.log" | tail -12 | cut -c1-200
python results/h200-costuse/summary.py "$OUT/perf-sst2.json"
gzip -f "$OUT/perf-sst2.log"

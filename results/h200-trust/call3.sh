#!/usr/bin/env bash
# One device call (2026-12-04, third session) for issue 23: the real and perf QLoRA cases of the
# documented command `pytest bench -m "gpu and qlora"` that the carry allows in one call (MiniLM-L6
# and SmolLM2 on SST-2, WikiText-2 and sst2_instruct; IMDB's 25 MiB of data cannot travel with a
# model), full protocols, one pytest process, stopped with SIGINT at 560 s so that the results of
# the cases that finished are written and the rest are recorded as interrupted.
# Needs the previous back-to-back calls to have staged in /tmp/kit: bitsandbytes, the SmolLM2 GGUF
# (both halves), data/sst2 and data/wikitext2 (call1.sh, then results/h200-costuse/run.sh STAGE=smollm2).
# Usage (GPU machine, repository root): bash results/h200-trust/call3.sh      carry: .device-kit/minilm-l6
OUT=${OUT:-/tmp/out}
source results/h200-speed/env.sh
git log -1 --format='commit %h %s' 2>/dev/null
[ -f /tmp/smollm2.gguf ] || echo "no SmolLM2 GGUF in /tmp: its cases will skip"
SECONDS=0
timeout -s INT -k 20 560 python -m pytest bench $D -rA --benchmark-json="$OUT/qlora-real-perf.json" \
  -m "gpu and qlora and (real or perf) and not imdb and not imdb_instruct" > "$OUT/qlora-real-perf.log" 2>&1
echo "rc=$? ${SECONDS}s: $(tail -n 1 "$OUT/qlora-real-perf.log")"
grep -E "^(PASSED|FAILED|ERROR|SKIPPED)" "$OUT/qlora-real-perf.log" | cut -c1-220
python results/h200-costuse/summary.py "$OUT/qlora-real-perf.json" | tee "$OUT/costuse-summary.txt"
gzip -f "$OUT/qlora-real-perf.log"

#!/bin/bash
# The WikiText-2 collapse experiment (issue 14 item 5) on one H200, ~7 min (1 min zero-shot, then ~6 min of training runs).
# Carries .device-kit (site for gguf, the SmolLM2 GGUF halves, data/wikitext2), staged as
# results/h200-speed/env.sh does (several calls if the kit exceeds one call's 64 MiB):
#   bash results/h200-sparselora/wikitext.sh            # every variant
#   ONLY="lora,sparselora 0.9" bash results/h200-sparselora/wikitext.sh   # a subset (name prefixes)
# Prints one RESULT line per variant: dense and sparse-forward perplexity before -> after training.
set -u
. results/h200-speed/env.sh
[ -f /tmp/smollm2.gguf ] || { echo "SmolLM2 GGUF not staged (carry .device-kit/smollm2)"; exit 2; }
# zero-shot: the dense vs the sparse forward, every schedule (no training; ~1 min)
timeout -k 10 120 python results/h200-sparselora/sparse_forward.py /tmp/smollm2.gguf "$DATA/wikitext2/test.txt" \
  --blocks 8 --seq 512 --json "$OUT/sparse-forward.json" > "$OUT/sparse-forward.log" 2>&1
grep -v "^Converting" "$OUT/sparse-forward.log" | tail -12
timeout -k 10 ${LIMIT:-380} python results/h200-sparselora/wikitext.py /tmp/smollm2.gguf "$DATA" \
  --only "${ONLY:-}" --json "$OUT/wikitext.json" > "$OUT/wikitext.log" 2>&1
echo "rc $?"
grep -E "^RESULT|Error" "$OUT/wikitext.log"

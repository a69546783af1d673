#!/bin/bash
# The WikiText-2 collapse experiment (issue 14 item 5) on one H200, ~6-7 min.
# Carries .device-kit (site for gguf, the SmolLM2 GGUF halves, data/wikitext2), staged as
# results/h200-speed/env.sh does (several calls if the kit exceeds one call's 64 MiB):
#   bash results/h200-sparselora/wikitext.sh            # every variant
#   ONLY="lora,sparselora 0.9" bash results/h200-sparselora/wikitext.sh   # a subset (name prefixes)
# Prints one RESULT line per variant: dense and sparse-forward perplexity before -> after training.
set -u
. results/h200-speed/env.sh
[ -f /tmp/smollm2.gguf ] || { echo "SmolLM2 GGUF not staged (carry .device-kit/smollm2)"; exit 2; }
timeout -k 10 ${LIMIT:-460} python results/h200-sparselora/wikitext.py /tmp/smollm2.gguf "$DATA" \
  --only "${ONLY:-}" --json "$OUT/wikitext.json" > "$OUT/wikitext.log" 2>&1
echo "rc $?"
grep -E "^RESULT|Error" "$OUT/wikitext.log"

# QLoRA's quality with either 4-bit backend on the real tier (issue 26: torchao within
# bitsandbytes' 95% interval and the other way round): SmolLM2-135M WikiText-2 perplexity (seed
# 0, the real tier's 150 steps) and MiniLM-L6 SST-2 accuracy (seeds 0-2, --limit-train 10000,
# about a third of an epoch), each backend in its own pytest run (--set qlora.backend=...).
#
# A call carries at most 64 MiB, so the pieces come over several calls while the machine stays
# warm: each call stages what it carried in /tmp/kit (results/h200-speed/env.sh) and runs every
# part whose pieces are all staged and that has not run yet. Carry, one call each, in order:
#   1. .device-kit/smollm2/part-a
#   2. .device-kit/smollm2/part-b .device-kit/site/gguf .device-kit/site/gguf-0.19.0.dist-info .device-kit/data/wikitext2
#   3. .device-kit/site/bitsandbytes .device-kit/site/bitsandbytes-0.50.2.dist-info .device-kit/whl-torchao
#      .device-kit/data/sst2                                   -> runs WikiText-2 (about 3 minutes)
#   4. .device-kit/minilm-l6                                   -> runs SST-2 (about 3 minutes)
# Cost of use (merge routes, decoding) is left out: it was measured in results/h200-trust.
# Usage (GPU machine, each call): bash results/h200-qlora/quality.sh
source results/h200-qlora/env.sh
have() { python -c "import $1" 2>/dev/null; }
staged() { for p in "$@"; do [ -e "$p" ] || return 1; done; }
# part NAME: run it once per machine (a marker in /tmp), both backends, JSON and log under $OUT
part() {
  local name=$1; shift
  [ -e "/tmp/qlora-quality-$name" ] && { echo "$name: ran in an earlier call"; return; }
  for backend in bitsandbytes torchao; do
    run "$name-$backend" 280 "$@" --set qlora.backend=$backend --set train.cost_of_use=false
  done
  touch "/tmp/qlora-quality-$name"
}
if have bitsandbytes && have torchao; then
  if staged /tmp/smollm2.gguf "$DATA/wikitext2" && have gguf; then
    part wikitext2 -m "real and gpu and qlora and wikitext2" --seeds 0
  else echo "wikitext2: SmolLM2 (both halves), gguf or the data not staged yet"; fi
  if staged "$KIT/minilm-l6" "$DATA/sst2"; then
    part sst2 -m "real and gpu and qlora and sst2 and not instruct" --seeds 0,1,2 --limit-train 10000
  else echo "sst2: MiniLM-L6 or the data not staged yet"; fi
else
  echo "bitsandbytes and torchao not both staged yet: nothing run (staged so far in $KIT)"
fi
ls "$OUT"/*.json > /dev/null 2>&1 && python results/h200-qlora/quality.py "$OUT"/*.json | tee "$OUT/quality.txt"
ls "$OUT"/*.log > /dev/null 2>&1 && tar -czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log
true

# LoRA's own ceiling (issue 26, item 4): LoRA at 8B with liger-kernel's fused kernels (RMSNorm,
# SwiGLU, fused linear cross-entropy), with and without gradient checkpointing, next to plain
# compiled LoRA in the same pytest process. Target: MFU >= 55% (50.7-52.8% without liger).
# Expected: 4 cases, about 3 minutes.
#
# Usage (GPU machine, one call): bash results/h200-qlora/liger.sh
#   carry: .ci-cache/tokens .device-kit/whl-liger     (the liger-kernel wheel alone: 0.9 MiB)
# The wheel and the token ids are made as results/h200-qlora/env.sh's header says.
source results/h200-qlora/env.sh
python -c "import liger_kernel" 2>/dev/null || echo "no liger-kernel: the liger cases will record an error"
start=$(date +%s)
runids liger 400 $(for v in "" -liger -gc -liger-gc; do ids "lora-wikitext2-scale-llama-8b$v-gpu-seed0"; done) $L
echo "total: $(( $(date +%s) - start )) s"
python results/h200-qlora/summary.py "$OUT"/liger.json | tee "$OUT/summary.txt"
tar -czf "$OUT/logs.tgz" -C "$OUT" liger.log && rm -f "$OUT/liger.log"

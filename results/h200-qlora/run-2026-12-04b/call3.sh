# QLoRA with torch's fused AdamW (variant "adamw", both backends) against LoRA, through pytest:
# the 1B and the 8B-with-checkpointing trios in one process, the 3B trio in a second.
# Carry: .ci-cache/tokens, .device-kit/site/bitsandbytes, .device-kit/site/bitsandbytes-0.50.2.dist-info,
# .device-kit/whl-torchao.
source results/h200-qlora/env.sh
S=wikitext2-scale
C="lora-$S-llama-1b qlora-$S-llama-1b-adamw qlora-$S-llama-1b-torchao-adamw
   lora-$S-llama-8b-gc qlora-$S-llama-8b-adamw-gc qlora-$S-llama-8b-torchao-adamw-gc"
runids adamw-1b-8bgc 380 $(for c in $C; do ids "$c-gpu-seed0"; done) $L
python results/h200-qlora/summary.py $OUT/adamw-1b-8bgc.json | tee $OUT/summary-1b-8bgc.txt
C="lora-$S-llama-3b qlora-$S-llama-3b-adamw qlora-$S-llama-3b-torchao-adamw"
runids adamw-3b 190 $(for c in $C; do ids "$c-gpu-seed0"; done) $L
python results/h200-qlora/summary.py $OUT/adamw-3b.json | tee $OUT/summary-3b.txt

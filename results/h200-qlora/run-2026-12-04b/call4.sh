# The 8B trio without checkpointing, one process (as call3.sh; same carry).
source results/h200-qlora/env.sh
S=wikitext2-scale
C="lora-$S-llama-8b qlora-$S-llama-8b-adamw qlora-$S-llama-8b-torchao-adamw"
runids adamw-8b 280 $(for c in $C; do ids "$c-gpu-seed0"; done) $L
python results/h200-qlora/summary.py $OUT/adamw-8b.json | tee $OUT/summary-8b.txt

# QLoRA's step with torch's fused AdamW in place of the 8-bit ones (qlora.optimizer=adamw), and the
# step split into forward / backward / optimizer (issue 26). One process per group.
# Carry: .device-kit/site/bitsandbytes, .device-kit/site/bitsandbytes-0.50.2.dist-info, .device-kit/whl-torchao, .ci-cache/tokens
# (perf_profile.py builds each case with build_run since 2026-12-04b's runs, which reads the token ids).
source results/h200-qlora/env.sh > /dev/null 2>&1
S=wikitext2-scale
P="python bench/perf_profile.py --steps 10 --top 12"
run() { local name=$1 limit=$2; shift 2; timeout $limit $P "$@" --json $OUT/$name.json 2>&1 | grep -v Warning | tee $OUT/$name.log; }
run adamw-1b 110 qlora-$S-llama-1b-gpu-seed0 qlora-$S-llama-1b-torchao-gpu-seed0 --set qlora.optimizer=adamw
run adamw-8b 150 lora-$S-llama-8b-gpu-seed0 qlora-$S-llama-8b-gpu-seed0 qlora-$S-llama-8b-torchao-gpu-seed0 --set qlora.optimizer=adamw
run adamw-8b-gc 150 lora-$S-llama-8b-gc-gpu-seed0 qlora-$S-llama-8b-gc-gpu-seed0 qlora-$S-llama-8b-torchao-gc-gpu-seed0 --set qlora.optimizer=adamw
run default-1b 110 lora-$S-llama-1b-gpu-seed0 qlora-$S-llama-1b-gpu-seed0 qlora-$S-llama-1b-torchao-gpu-seed0
grep -h "^==\|^step" $OUT/*.log

# Where QLoRA's step spends its time against LoRA's (issue 26): bench/perf_profile.py on the scale
# tier's 1B and 8B cases, one process. Carry: .device-kit/site/bitsandbytes,
# .device-kit/site/bitsandbytes-0.50.2.dist-info, .device-kit/whl-torchao, .ci-cache/tokens
# (perf_profile.py builds each case with build_run since 2026-12-04b's runs, which reads the token ids).
source results/h200-qlora/env.sh > /dev/null 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
S=wikitext2-scale
P="python bench/perf_profile.py --steps 10 --top 25"
timeout 280 $P lora-$S-llama-1b-gpu-seed0 qlora-$S-llama-1b-gpu-seed0 qlora-$S-llama-1b-torchao-gpu-seed0 \
  --json $OUT/profile-1b.json 2>&1 | grep -v Warning | tee $OUT/profile-1b.log
timeout 240 $P lora-$S-llama-8b-gpu-seed0 qlora-$S-llama-8b-gpu-seed0 \
  --json $OUT/profile-8b.json 2>&1 | grep -v Warning | tee $OUT/profile-8b.log

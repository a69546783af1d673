# The lora_prune weight-sparsity frontier on the GPU (issue 28): the tiny tier's SST-2 and IMDB
# (generated data, no carry), --sweep lora_prune.target_sparsity over four points, 3 seeds each,
# LoRA's 3 seeds beside them, one pytest process. Output under $OUT: frontier.json and the log.
# Run: bash results/h200-frontier/lora_prune.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
timeout -k 10 ${LIMIT:-220} python -m pytest bench -p no:cacheprovider -m "smoke and gpu and (sst2 or imdb) and (lora or lora_prune) and not multigpu" \
  --seeds 0,1,2 --sweep lora_prune.target_sparsity=${POINTS:-0.3,0.5,0.7,0.9} \
  --benchmark-json=$OUT/frontier.json > $OUT/frontier.log 2>&1
echo "pytest: $(tail -n 1 $OUT/frontier.log)"

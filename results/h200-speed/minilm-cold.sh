# On a freshly started single-H200 machine (empty inductor cache): the perf tier's MiniLM-L6
# LoRA case on SST-2 from a cold cache, then again from the warm cache it left, then the perf
# tier's SparseLoRA case (eager). Usage (GPU machine): bash results/h200-speed/minilm-cold.sh
source results/h200-speed/env.sh
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-cold-$$
run sst2-perf-lora-cold 90 -m "perf and sst2 and lora"
run sst2-perf-lora-warm 50 -m "perf and sst2 and lora"
run sst2-perf-sparselora 60 -m "perf and sst2 and sparselora"
python bench/perf_table.py "$OUT"/sst2-*.json

# The perf tier's two WikiText-2 cases that have no timed GPU run yet: QLoRA (GPU 0; its cold
# compilation took about 150 s) and SparseLoRA (GPU 1, eager). Run once env.sh has staged both
# GGUF halves and .device-kit/data/wikitext2 in /tmp/kit (earlier calls on the same warm machine).
# Usage (GPU machine): bash results/h200-speed/lm-rest.sh
source results/h200-speed/env.sh
python -m fixtures.run.warm --real > /dev/null 2>&1
( taskset -cp 0-15 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=0; run lm-perf-qlora 400 -m "perf and wikitext2 and qlora" ) &
( taskset -cp 16-31 $BASHPID > /dev/null; export CUDA_VISIBLE_DEVICES=1; run lm-perf-sparselora 400 -m "perf and wikitext2 and sparselora" ) &
wait
python bench/perf_table.py "$OUT"/lm-*.json
tar czf "$OUT/lm-rest.tgz" -C "$OUT" --exclude=lm-rest.tgz .

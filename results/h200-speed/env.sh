# Sourced by the GPU scripts beside it, from the repository root on the GPU machine
# (packages, MiniLM-L6, SmolLM2 and the data carried in .device-kit/, as ../shared/tools/device-kit
# builds it). A call carries at most 64 MiB, so the pieces come over several calls: whatever this
# call carried is first staged in /tmp/kit, which lasts as long as the machine stays warm, and the
# SmolLM2 GGUF is assembled in /tmp once both of its halves have arrived.
KIT=/tmp/kit
mkdir -p "$KIT/data" "$KIT/smollm2"
for piece in site minilm-l6 smollm2/part-a smollm2/part-b data/sst2 data/imdb data/wikitext2; do
  [ -e ".device-kit/$piece" ] && [ ! -e "$KIT/$piece" ] && cp -r ".device-kit/$piece" "$KIT/$piece"
done
[ -f /tmp/smollm2.gguf ] || { [ -f "$KIT/smollm2/part-a" ] && [ -f "$KIT/smollm2/part-b" ] \
  && cat "$KIT/smollm2/part-a" "$KIT/smollm2/part-b" > /tmp/smollm2.gguf; }
export PYTHONPATH=$KIT/site:$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PEFT_BENCH_SMOLLM2_GGUF=/tmp/smollm2.gguf PEFT_BENCH_MINILM_DIR=$KIT/minilm-l6
DATA=$KIT/data
D="--data-dir $DATA -p no:cacheprovider"
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
# run NAME LIMIT PYTEST_ARGS...: one timed pytest run, its JSON and log under $OUT, its last line printed
# A killed run leaves its --benchmark-json empty; its finished cases are then in the journal
# beside the autosave (fixtures/run/journal.py), copied to $OUT/NAME.journal.jsonl
# (python -m reports reads it).
run() { local name=$1 limit=$2; shift 2; touch "/tmp/run-$name.start"; timeout -k "${KILL_AFTER:-10}" "$limit" python -m pytest bench $D --benchmark-json="$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1; echo "$name: $(tail -n 1 "$OUT/$name.log")"
  keep_journal "$name"; }
# keep_journal NAME: when run NAME left no JSON, copy the journal it wrote (started after /tmp/run-NAME.start)
keep_journal() { local name=$1 j; [ -s "$OUT/$name.json" ] && return
  j=$(find .benchmarks -name 'journal_*.jsonl' -newer "/tmp/run-$name.start" 2>/dev/null | head -n 1)
  [ -n "$j" ] && cp "$j" "$OUT/$name.journal.jsonl" && echo "$name: no JSON; its journal is $name.journal.jsonl"; }
echo "staged in $KIT: $(cd "$KIT" && ls -d site minilm-l6 smollm2/* data/* 2>/dev/null | tr '\n' ' ')"
nvidia-smi --query-gpu=index,name,memory.used --format=csv
python -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"

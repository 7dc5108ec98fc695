#!/usr/bin/env bash
# The GPU check, run as one script on a lent CUDA machine (budget: under 8 minutes).
#
# The device machine has torch, torchvision, scikit-learn and scipy; the rest travels as
# wheels in .whl/ (prepare them here first, see /work/.library/device/README.md):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 -d .whl \
#     skorch tabulate tqdm optuna alembic sqlalchemy colorlog pyyaml mako \
#     pytest pluggy iniconfig packaging joblib threadpoolctl safetensors
#   .venv/bin/python -m pip wheel --no-deps --no-build-isolation -w .whl . \
#     ./plugins/hsproto-contrib
# (the hsproto wheels carry the entry points: the registry finds the built-in backbones,
# losses and strategies through their metadata; the code itself runs from the checkout)
# then call the device tool with carry [".whl"] and the command
#   bash benchmarks/gpu_check.sh
# Each step has its own time limit, so one slow step cannot eat the budget; the figures
# go to stdout (and $OUT/gpu_check.txt when $OUT is set).
set -u
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="$PWD:$PWD/plugins/hsproto-contrib/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export HSPROTO_CACHE_DIR=off
log=${OUT:-/tmp}/gpu_check.txt
run() {   # run LIMIT_SECONDS CMD...: one step, its output and exit status logged
  local limit=$1; shift
  echo "== $* (limit ${limit}s)" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  echo "== exit ${PIPESTATUS[0]}" | tee -a "$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$log"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
  | tee -a "$log"
run 200 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_device.py \
  -o addopts="" -ra
run 60 python3 benchmarks/inference.py --device cuda --repeats 3
run 50 python3 benchmarks/overhead.py --device cuda --repeats 3 --epochs 10
run 120 python3 benchmarks/throughput.py --device cuda --precision 32 bf16 --n 2048 \
  --rounds 3 --workers 4 --threads 8
run 80 python3 benchmarks/throughput.py --device cuda --precision bf16 --compile \
  --models resnet_cifar --n 2048 --rounds 2 --workers 4 --threads 8
run 40 python3 benchmarks/cifar.py --smoke --device cuda --precision bf16
# the figure the CPU cannot give: accuracy at 100 000 classes (fixed against learnable)
run 100 python3 benchmarks/many_classes.py --device cuda --classes 100000 \
  --models hpn softmax --epochs 10 --threads 8

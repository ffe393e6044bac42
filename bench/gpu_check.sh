#!/usr/bin/env bash
# One short GPU check (CUDA path + timings), for a lent GPU machine whose image has torch but
# not this project's library versions: wheels carried in .gpu-wheels/ go to a private site dir.
#   bash bench/gpu_check.sh [OUT_DIR]
set -euo pipefail
out=${1:-${OUT:-/tmp/gpu-check}}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
if [ -d .gpu-wheels ]; then
  python3 -m pip install -q --no-deps --no-index --target /tmp/ft-site .gpu-wheels/*.whl
  export PYTHONPATH=/tmp/ft-site:$PWD
fi
export FINETUNE_RUNS_DIR=/tmp/ft-runs HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 bench/gpu_check.py --out "$out" 2>&1 | grep -vE "Writing model shards|Generating|Map|examples/s"

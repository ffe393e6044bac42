#!/usr/bin/env bash
# Create or update the local virtual environment .venv with everything the project needs.
# torch goes in first, on purpose: with no GPU a plain `torch` requirement resolves to a
# multi-GB CUDA build, so where `nvidia-smi` finds no GPU we pin the CPU release.
# Set TORCH_SPEC to override (e.g. TORCH_SPEC="torch==2.14.1"), TORCH_INDEX_URL to add an index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${EXTRAS:-dev}
stamp=.venv/.installed-$(cat pyproject.toml scripts/setup-venv.sh | sha1sum | cut -c1-12)-$EXTRAS
[ -f "$stamp" ] && exit 0

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# not quiet: on a fresh clone this takes a minute or more, and a silent terminal looks stuck
pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar on)
[ -n "${TORCH_INDEX_URL:-}" ] && pip+=(--extra-index-url "$TORCH_INDEX_URL")

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    spec=${TORCH_SPEC:-torch}
  else
    spec=${TORCH_SPEC:-torch==2.13.0}
  fi
  echo "setup: installing $spec"
  "${pip[@]}" "$spec"
fi
echo "setup: installing finetune-dashboard[$EXTRAS] and its packages (a minute or two the first time)"
"${pip[@]}" -e ".[$EXTRAS]"
rm -f .venv/.installed-*
touch "$stamp"

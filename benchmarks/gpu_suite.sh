#!/usr/bin/env bash
# A built-in suite on one GPU, as one device call runs it (see benchmarks/README.md, "A suite on the GPU"):
#   bash benchmarks/gpu_suite.sh SUITE OUT_DIR [more `xbench run` arguments]
# e.g. run(command="WHEELS=.whl_paper bash benchmarks/gpu_suite.sh split_ig_paper $OUT/split_ig_paper",
#          carry=[".whl_paper"], timeout_s=540)
# Writes the run (results, report, claims.md) into OUT_DIR only, never into the checkout; chunks are sized from
# free device memory (speed.memory_chunks); prints the wall time and the host's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:?give a suite name}"
out="${2:?give an output folder outside the checkout, e.g. \$OUT/$1}"
shift 2
case "$(realpath -m "$out")/" in
    "$(realpath "$PWD")"/*) echo "gpu_suite: OUT_DIR '$out' is inside the checkout; give a folder outside it" >&2; exit 2;;
esac
source benchmarks/gpu_env.sh
# what the photo suites import: one line naming what is missing rather than a traceback minutes in
python3 - <<'PY'
import importlib.util, sys
need = ["torch", "timm", "skimage", "scipy", "pandas", "matplotlib"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_suite: missing {', '.join(missing)}; add their wheels with benchmarks/gpu_wheels.sh")
PY
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
start=$(date +%s)
"${timer[@]}" python3 -m xbench run "$suite" --device "${DEVICE:-cuda}" --out "$out" --fresh --quiet \
    --set speed.memory_chunks=true "$@"
echo "gpu_suite: $suite finished in $(( $(date +%s) - start )) s wall (results: $out/index.md, claims: $out/claims.md)"

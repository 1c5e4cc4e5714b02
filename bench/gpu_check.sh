#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and CuPy (any CUDA build of it):
#   1. build the native module in place (so the CPU side of the table has every backend),
#   2. run the GPU tests and every kernel's cupy-vs-reference test, and the compiled
#      routes' tests on the host's CPU, every route it runs (its many threads: Winograd's
#      weight gradient splits its 16 positions between them),
#   3. time every kernel on every backend found, CPU and GPU in one run, with PyTorch CPU
#      beside them where it is installed.
# Nothing is installed: tlcore runs from src/, where step 1 writes the compiled module.
# Logs and JSON go to $OUT (default bench/results/gpu). Exit status 1 when the tests or
# the bench failed. Usage: [REPEATS=20] bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
REPEATS=${REPEATS:-20}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
$PY -c "import sys, numpy, cupy; print('python', sys.version.split()[0], 'numpy',
numpy.__version__, 'cupy', cupy.__version__, 'CUDA runtime',
cupy.cuda.runtime.runtimeGetVersion())"

if $PY setup.py build_ext --inplace >"$OUT/build.log" 2>&1; then
    echo "native module built"
else
    echo "native module NOT built: $OUT/build.log"; tail -5 "$OUT/build.log"
fi
$PY -m tlcore.cli info

# -m gpu: test_gpu.py, and the "cupy" cases of the kernel parity tests.
timeout 200 $PY -m pytest -q -p no:cacheprovider -m gpu -o addopts="-ra" \
    tests/test_gpu.py tests/test_kernel_backends.py 2>&1 | tee "$OUT/gpu_tests.log"
tests_status=${PIPESTATUS[0]}
timeout 120 $PY -m pytest -q -p no:cacheprovider -o addopts="-ra" \
    tests/test_conv_routes.py tests/test_winograd_routes.py tests/test_hinge_routes.py \
    2>&1 | tee "$OUT/route_tests.log"
route_status=${PIPESTATUS[0]}

timeout 200 $PY bench/kernels.py --repeats "$REPEATS" --json "$OUT/kernels.json" \
    >"$OUT/kernels.txt" 2>"$OUT/kernels.err"
bench_status=$?

echo "== GPU tests (exit $tests_status):"; tail -1 "$OUT/gpu_tests.log"
echo "== compiled routes' tests on the host (exit $route_status):"
tail -1 "$OUT/route_tests.log"
echo "== kernel bench (exit $bench_status):"; cat "$OUT/kernels.txt"; tail -3 "$OUT/kernels.err"
exit $(( tests_status != 0 || route_status != 0 || bench_status != 0 ))

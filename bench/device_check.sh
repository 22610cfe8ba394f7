#!/usr/bin/env bash
# The GPU check for a lent device machine (no internet there): the GPU tests, the GPU benchmark
# and compute-sanitizer on the kernel, results under $OUT. Here, first:
# bash bench/fetch_device_wheels.sh; then call the device tool with command
# "bash bench/device_check.sh" and carry [".whl"].
# The image has Python 3.12, numpy, numba, cupy, pyarrow, click, joblib, tqdm, pytest and
# hypothesis; .whl/ brings imageio-ffmpeg, webdataset and braceexpand.
# BUDGET: seconds the whole script may take (the device call's limit is 600). Steps run in order
# of need, each capped: the tests, then the benchmark, then the sanitizers with what is left.
# A shorter rerun: TESTS (test files), BENCH_ARGS (e.g. --quick), SANITIZE=0.
set -uo pipefail
OUT=${OUT:-/tmp/out}
BUDGET=${BUDGET:-580}
mkdir -p "$OUT"
# A rerun on the same warm machine must test this tree: pip --target keeps what is there, and
# setuptools' build/ keeps modules deleted since.
rm -rf /tmp/site build
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc;
  python3 -c 'import cupy, numba, numpy; print(cupy.__version__, numba.__version__, numpy.__version__)'
  (cd /tmp && python3 -m fractalvid info --preset paper)
} > "$OUT/machine.txt" 2>&1
# Tests from a folder outside the checkout, so the installed package (with chaos.cu) is used.
TESTS=${TESTS:-tests/test_gpu.py tests/test_kernel_on_cpu.py tests/test_render.py}
(cd /tmp && timeout 200 python3 -m pytest -q -p no:cacheprovider -rs \
  $(for t in $TESTS; do echo "$OLDPWD/$t"; done) 2>&1) | tee "$OUT/test-gpu.txt"
left=$((BUDGET - SECONDS - 70))
timeout $((left < 300 ? left : 300)) python3 bench/bench_gpu.py --clips "${CLIPS:-512}" \
  --e2e-clips "${E2E_CLIPS:-2048}" ${BENCH_ARGS:-} 2>&1 \
  | tee "$OUT/bench-gpu.txt"
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
for tool in memcheck racecheck; do
  left=$((BUDGET - SECONDS - 5)); [ "$tool" = memcheck ] && left=$((left / 2))
  if [ "${SANITIZE:-1}" = 0 ] || [ -z "$sanitizer" ] || [ "$left" -lt 20 ]; then
    echo "$tool: skipped (SANITIZE=0, no compute-sanitizer or no time)"; continue
  fi
  timeout "$left" "$sanitizer" --tool "$tool" --error-exitcode 1 python3 bench/gpu_sanitize.py
  echo "$tool: exit $?"
done 2>&1 | tee "$OUT/sanitize.txt"

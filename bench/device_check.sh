#!/usr/bin/env bash
# One GPU check for a lent device machine (no internet there): the GPU tests and the GPU
# benchmark, results under $OUT. The device image has numpy, numba, cupy, pyarrow, click,
# joblib, tqdm, pytest and hypothesis; carry the rest as wheels in .whl/ (see the device
# tool's README): imageio-ffmpeg, webdataset, braceexpand.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
(cd /tmp && python3 -m pytest -q -p no:cacheprovider "$OLDPWD/tests/test_gpu.py" \
  "$OLDPWD/tests/test_render.py" 2>&1) | tee "$OUT/test-gpu.txt"
timeout 420 python3 bench/bench_gpu.py --clips "${CLIPS:-256}" 2>&1 | tee "$OUT/bench-gpu.txt"

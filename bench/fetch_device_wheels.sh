#!/usr/bin/env bash
# Fetch the wheels the GPU machine's image lacks into .whl/ (ignored by git), for the device
# tool to carry: `run(command="bash bench/device_check.sh", carry=[".whl"])`. The image has
# Python 3.12, numpy, numba, cupy, pyarrow, click, joblib, tqdm, pytest and hypothesis.
# imageio-ffmpeg 0.6.0: its wheel is 29 MB, 0.8.1's 65 MB, over the 64 MiB a call may carry.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
for spec in imageio-ffmpeg==0.6.0 webdataset==1.0.2 braceexpand==0.1.7; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
du -sh .whl

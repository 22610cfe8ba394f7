"""One small launch of the chaos kernel per histogram path, checked against numba: meant to run
under NVIDIA's compute-sanitizer on a device (bench/device_check.sh runs it with memcheck and
racecheck), where out-of-bounds accesses and shared-memory races are the device's own to report.

    compute-sanitizer --tool racecheck --error-exitcode 1 python bench/gpu_sanitize.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from fractalvid.gen.render_gpu import chaos_histograms_gpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# the tests' jobs (one clip per variation), the kernels' arguments and numba's counts
from outputs import every_variation, histogram_args, numba_histograms  # noqa: E402


def main() -> int:
    jobs = every_variation(frames=1)
    failed = 0
    # int counters in shared memory; global atomics; 16-bit counters in shared memory (160
    # chains of 128 threads, 600 steps: two rounds, the second partial, of two spans each)
    for size, chains, iters, histogram in ((48, 64, 300, "shared"), (200, 64, 300, "auto"),
                                           (200, 160, 600, "packed")):
        args = histogram_args(jobs, size, chains, iters, 10)
        hist, escapes = chaos_histograms_gpu(*args, histogram=histogram)
        expected, expected_escapes = numba_histograms(args)
        same = bool((hist.get() == expected).all() and (escapes.get() == expected_escapes).all())
        verdict = "counts equal numba" if same else "COUNTS DIFFER from numba"
        print(f"{size} px, {histogram}: {verdict}")
        failed += not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

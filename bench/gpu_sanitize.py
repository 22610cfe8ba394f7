"""One small launch of the chaos kernel per histogram path, checked against numba: meant to run
under NVIDIA's compute-sanitizer on a device (bench/device_check.sh runs it with memcheck and
racecheck), where out-of-bounds accesses and shared-memory races are the device's own to report.

    compute-sanitizer --tool racecheck --error-exitcode 1 python bench/gpu_sanitize.py
"""

from __future__ import annotations

import sys

import numpy as np

from fractalvid.gen.chaos import chaos_histograms
from fractalvid.gen.ifs import class_coefficients, sample_class
from fractalvid.gen.render import RenderJob, _stack_jobs, _view
from fractalvid.gen.render_gpu import chaos_histograms_gpu
from fractalvid.gen.variations import VARIATIONS


def main() -> int:
    jobs = []
    for i, (name, vid) in enumerate(sorted(VARIATIONS.items(), key=lambda kv: kv[1])):
        cls = sample_class(np.random.default_rng(i), variations=(name,) if vid else (),
                           linear_fraction=0.0 if vid else 1.0)  # fmt: skip
        jobs.append(RenderJob(class_coefficients(cls)[:1], vid, 1000 + i))
    coefs, probs, nmaps, vids, seeds = _stack_jobs(jobs)
    failed = 0
    for size in (48, 200):  # shared-memory histogram; global atomics
        views = np.tile(_view((-1.5, 1.5, -1.5, 1.5), size), (coefs.shape[0], 1))
        args = (coefs, probs, nmaps, vids, views, seeds, 64, 300, 10)
        hist, escapes = chaos_histograms_gpu(*args)
        expected = np.empty(hist.shape, np.int32)
        expected_escapes = chaos_histograms(*args, False, expected)
        same = bool((hist.get() == expected).all() and (escapes.get() == expected_escapes).all())
        print(f"{size} px: {'counts equal numba' if same else 'COUNTS DIFFER from numba'}")
        failed += not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

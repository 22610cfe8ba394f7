"""The CUDA kernel, compiled for the CPU (tests/cuda_on_cpu), computes exactly what the numba
kernel computes, and the GPU renderer's host code around it makes the CPU's data set.

Same splitmix64 streams, same alias tables, same variation formulas, same float operations in
the same order (no FMA contraction on either side here): the histograms must be equal count for
count, through the shared-memory path and the global-atomics path alike. On a real GPU the
compiler fuses multiply-adds and the device's exp/pow/atan2 differ in the last bits, so there
the renders agree statistically (test_gpu.py), not bitwise.
"""

import sys

import numpy as np
import pytest
from cuda_on_cpu.emulator import RawKernel, compiler_available, fake_cupy

from fractalvid.gen import render_gpu
from fractalvid.gen.chaos import chaos_histograms
from fractalvid.gen.render import CpuRenderer, RenderSettings, _stack_jobs, _view

from outputs import digests, every_variation, generate, small_args

pytestmark = pytest.mark.skipif(not compiler_available(), reason="g++ not installed")

SMALL = RenderSettings(resolution=64, chains=32, iterations=1500, burn_in=20,
                       coarse_resolution=64, coarse_points=1000)  # fmt: skip


@pytest.fixture
def emulated_gpu(monkeypatch):
    """cupy, as far as the GPU renderer is concerned, with chaos.cu running on CPU threads."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    render_gpu._kernel.cache_clear()
    RawKernel.launches.clear()
    yield RawKernel.launches
    render_gpu._kernel.cache_clear()


@pytest.mark.parametrize("size", [64, 200])  # 16 KB: shared memory; 160 KB: global atomics
def test_the_cuda_kernel_counts_exactly_what_numba_counts(emulated_gpu, size):
    coefs, probs, nmaps, vids, seeds = _stack_jobs(every_variation(frames=3))
    views = np.tile(_view((-1.5, 1.5, -1.5, 1.5), size), (coefs.shape[0], 1))
    args = (coefs, probs, nmaps, vids, views, seeds, 32, 1500, 20)
    hist, escapes = render_gpu.chaos_histograms_gpu(*args)
    expected = np.empty_like(hist)
    expected_escapes = chaos_histograms(*args, False, expected)
    assert emulated_gpu[-1]["use_shared"] == (size * size * 4 <= render_gpu.SHARED_LIMIT)
    assert hist.sum() > 0
    for f, vid in enumerate(vids):
        np.testing.assert_array_equal(hist[f], expected[f], err_msg=f"variation {vid}")
    np.testing.assert_array_equal(escapes, expected_escapes)


def test_shared_and_global_histograms_are_the_same(emulated_gpu, monkeypatch):
    coefs, probs, nmaps, vids, seeds = _stack_jobs(every_variation(frames=2)[:8])
    views = np.tile(_view((-1.5, 1.5, -1.5, 1.5), 48), (coefs.shape[0], 1))
    args = (coefs, probs, nmaps, vids, views, seeds, 64, 800, 10)
    shared, _ = render_gpu.chaos_histograms_gpu(*args)
    monkeypatch.setattr(render_gpu, "SHARED_LIMIT", 0)
    global_, _ = render_gpu.chaos_histograms_gpu(*args)
    assert [launch["use_shared"] for launch in emulated_gpu] == [1, 0]
    np.testing.assert_array_equal(shared, global_)


def test_the_gpu_renderer_frames_clips_as_the_cpu_does(emulated_gpu):
    jobs = every_variation(frames=4)
    gpu = render_gpu.GpuRenderer().render(jobs, SMALL)
    cpu = CpuRenderer().render(jobs, SMALL)
    for job, a, b in zip(jobs, cpu, gpu):
        assert a.window == b.window and a.escaped == b.escaped, job.variation
        np.testing.assert_array_equal(a.frames, b.frames, err_msg=f"variation {job.variation}")
    # one launch per pass for the whole batch: the coarse framing pass, then the full pass
    assert [launch["grid"] for launch in emulated_gpu] == [4 * len(jobs)] * 2


def test_a_data_set_made_through_the_gpu_path_equals_the_cpu_one(emulated_gpu, tmp_path):
    args = small_args(classes=3, train_per_class=3, val_per_class=1, shard_size=4, resolution=64)
    cpu = generate(tmp_path / "cpu", [*args, "--backend", "cpu"])
    gpu = generate(tmp_path / "gpu", [*args, "--backend", "gpu"])
    assert emulated_gpu, "the GPU path did not launch the kernel"
    assert digests(gpu) == digests(cpu)

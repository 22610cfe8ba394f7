"""The CUDA kernel, compiled for the CPU (tests/cuda_on_cpu), computes exactly what the numba
kernel computes, and the GPU renderer's host code around it makes the CPU's data set.

Same splitmix64 streams, same alias tables, same variation formulas, same float operations in
the same order (no FMA contraction on either side, portable exp/log/pow/atan2): the histograms
must be equal count for count, whichever way the kernel counts (int counters in shared
memory, 16-bit ones added out in spans, or global atomics). test_gpu.py asks the same of a
real device (the kernel compiled with --fmad=false).

Built with AddressSanitizer (and UBSan) or ThreadSanitizer, the kernel must also run clean: no
access out of bounds, shared memory included, and no race between a block's threads; planted
bugs show the sanitizers would say so. What no CPU shows: races between blocks (they run one
after another here) and the device's own speed.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cuda_on_cpu.emulator import (
    SANITIZE_VARIABLE,
    WORKDIR_VARIABLE,
    RawKernel,
    compiler_available,
    fake_cupy,
    sanitizer_runtime,
)

from fractalvid.gen import render_gpu
from fractalvid.gen.render import CpuRenderer, RenderSettings

from outputs import (
    digests,
    every_variation,
    generate,
    histogram_args,
    numba_histograms,
    small_args,
)

pytestmark = pytest.mark.skipif(not compiler_available(), reason="g++ not installed")

SMALL = RenderSettings(resolution=64, chains=32, iterations=1500, burn_in=20,
                       coarse_resolution=64, coarse_points=1000)


@pytest.fixture
def emulated_gpu(monkeypatch):
    """cupy, as far as the GPU renderer is concerned, with chaos.cu running on CPU threads."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    render_gpu._kernel.cache_clear()
    RawKernel.launches.clear()
    yield RawKernel.launches
    render_gpu._kernel.cache_clear()


# Int counters in shared memory (16 KB) and global atomics ("auto"). 300 chains: numba's
# blocks of 128 chains and a partial one, against the kernel's chain at a time.
@pytest.mark.parametrize(("size", "chains", "iters", "histogram"),
                         [(64, 32, 1500, "shared"), (200, 32, 1500, "auto"),
                          (64, 300, 200, "shared"), (64, 300, 200, "auto")])
def test_the_cuda_kernel_counts_exactly_what_numba_counts(emulated_gpu, size, chains, iters,
                                                          histogram):
    args = histogram_args(every_variation(frames=3), size, chains, iters, 20)
    hist, escapes = render_gpu.chaos_histograms_gpu(*args, histogram=histogram)
    expected, expected_escapes = numba_histograms(args)
    assert emulated_gpu[-1]["hist_mode"] == render_gpu.HISTOGRAMS[
        render_gpu.choose_histogram(size * size, histogram)]
    assert hist.sum() > 0
    for f, vid in enumerate(args[3]):
        np.testing.assert_array_equal(hist[f], expected[f], err_msg=f"variation {vid}")
    np.testing.assert_array_equal(escapes, expected_escapes)


# 48 x 47 px: an odd pixel count, so the last 16-bit pair is half a pair. 300 chains of 128
# threads: the last round's idle threads still meet the packed counters' barriers. 1,200 steps:
# three spans of 511.
@pytest.mark.parametrize("histogram", ["shared", "packed", "global"])
def test_every_histogram_counts_what_numba_counts(emulated_gpu, histogram):
    args = histogram_args(every_variation(frames=2)[:8], 48, 300, 1200, 10)
    args[4][:, 5] = 47  # the views' height
    hist, escapes = render_gpu.chaos_histograms_gpu(*args, histogram=histogram)
    assert emulated_gpu[-1]["hist_mode"] == render_gpu.HISTOGRAMS[histogram]
    expected, expected_escapes = numba_histograms(args)
    assert hist.sum() > 0
    np.testing.assert_array_equal(hist, expected)
    np.testing.assert_array_equal(escapes, expected_escapes)


def one_pixel_histograms():
    """Every point of 4 frames (128 chains x 1,490 counted steps) in one pixel, counted the
    packed way: 190,720 a frame, 65,408 in each full span of 511 steps."""
    args = histogram_args(every_variation(frames=4)[:1], 1, 128, 1500, 10, half=1e9)
    hist, _ = render_gpu.chaos_histograms_gpu(*args, histogram="packed")
    return hist, numba_histograms(args)[0]


def test_packed_counters_never_wrap(emulated_gpu):
    """A 16-bit counter takes at most 65,535 counts between two add-outs, however hot its pixel."""
    hist, expected = one_pixel_histograms()
    assert (expected == 128 * 1490).all()
    np.testing.assert_array_equal(hist, expected)


def test_a_span_too_long_for_16_bits_is_caught(emulated_gpu, monkeypatch, tmp_path):
    """The test above can fail: with spans twice as long, counters wrap and counts are lost."""
    span = "#define PACKED_SPAN(threads) (65535 / (threads))"
    source = render_gpu.KERNEL_SOURCE.read_text()
    assert span in source
    (tmp_path / "chaos.cu").write_text(source.replace(span, span.replace("65535", "131070")))
    monkeypatch.setattr(render_gpu, "KERNEL_SOURCE", tmp_path / "chaos.cu")
    hist, expected = one_pixel_histograms()
    assert (hist < expected).all()


def test_a_histogram_that_does_not_fit_is_refused_before_launch(emulated_gpu):
    args = histogram_args(every_variation(frames=1)[:1], 256, 32, 100, 10)
    with pytest.raises(ValueError, match="do not fit in this device's shared memory as 'shared'"):
        render_gpu.chaos_histograms_gpu(*args, histogram="shared")
    with pytest.raises(ValueError, match="not one of auto, global, shared, packed"):
        render_gpu.GpuRenderer(histogram="fast")
    assert not emulated_gpu


def test_the_device_shared_memory_bounds_every_choice(emulated_gpu, monkeypatch):
    """On a GPU with less shared memory than Hopper's, nothing asks for more than it has:
    99 KB (consumer GPUs) refuses 256 px packed; 48 KB (older GPUs) refuses 128 px as ints;
    "auto" (global atomics) takes none anywhere."""
    import cupy

    jobs = every_variation(frames=1)[:2]
    attributes = cupy.cuda.Device().attributes
    for limit, size, histogram, mode in ((101376, 128, "shared", 1), (101376, 256, "packed", None),
                                         (49152, 128, "shared", None), (49152, 128, "auto", 0),
                                         (49152, 128, "packed", 2)):
        monkeypatch.setitem(attributes, "MaxSharedMemoryPerBlockOptin", limit)
        args = histogram_args(jobs, size, 32, 100, 10)
        if mode is None:
            needs = render_gpu.histogram_bytes(histogram, size * size)
            with pytest.raises(ValueError, match=f"{needs} > {limit} bytes"):
                render_gpu.chaos_histograms_gpu(*args, histogram=histogram)
        else:
            render_gpu.chaos_histograms_gpu(*args, histogram=histogram)
            assert emulated_gpu[-1]["hist_mode"] == mode
            assert emulated_gpu[-1]["shared_mem"] <= limit


# box chunk 7: the 3x3 filter runs over 124 frames 7 at a time, the last chunk partial
@pytest.mark.parametrize("box_chunk", [render_gpu.BOX_CHUNK, 7])
def test_the_gpu_renderer_frames_clips_as_the_cpu_does(emulated_gpu, monkeypatch, box_chunk):
    monkeypatch.setattr(render_gpu, "BOX_CHUNK", box_chunk)
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


def sanitized_replay(launches, sanitizer, source, tmp_path):
    """Replay recorded launches in a process of their own, the kernel (the CUDA file
    ``source``) built under ``sanitizer``; returns (results or None if it failed, its stderr)."""
    argv = []
    for i, launch in enumerate(launches):
        np.savez(tmp_path / f"launch{i}.npz", grid=launch["grid"], block=launch["block"],
                 shared_mem=launch["shared_mem"], **launch["arguments"])
        argv += [str(tmp_path / f"launch{i}.npz"), str(tmp_path / f"result{i}.npz")]
    env = {**os.environ, SANITIZE_VARIABLE: sanitizer, WORKDIR_VARIABLE: str(tmp_path / "kernels"),
           "LD_PRELOAD": sanitizer_runtime(sanitizer),
           "ASAN_OPTIONS": "detect_leaks=0", "TSAN_OPTIONS": "halt_on_error=1"}
    here = Path(__file__).parent / "cuda_on_cpu"
    command = [sys.executable, str(here / "sanitized_launch.py"), str(source), *argv]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=here, timeout=300)
    if proc.returncode != 0:
        return None, proc.stderr
    return [dict(np.load(tmp_path / f"result{i}.npz")) for i in range(len(launches))], proc.stderr


def recorded_launches(emulated_gpu):
    """Launches of every variation, one each way of counting: int counters in shared memory
    (48 px), global atomics (200 px), 16-bit counters (200 px; 160 chains of 128 threads, 600
    steps: two rounds, the second partial, of two spans each); returns them with their
    arguments and results."""
    RawKernel.keep_arguments = True
    try:
        jobs = every_variation(frames=1)
        results = []
        for size, chains, iters, histogram in ((48, 32, 300, "shared"), (200, 32, 300, "auto"),
                                               (200, 160, 600, "packed")):
            args = histogram_args(jobs, size, chains, iters, 10)
            results.append(render_gpu.chaos_histograms_gpu(*args, histogram=histogram))
    finally:
        RawKernel.keep_arguments = False
    assert [launch["hist_mode"] for launch in emulated_gpu] == [1, 0, 2]
    return list(emulated_gpu), results


@pytest.mark.parametrize("sanitizer", ["address", "thread"])
def test_the_kernel_is_clean_under_sanitizers(emulated_gpu, sanitizer, tmp_path):
    """AddressSanitizer (with UBSan): no access out of bounds, shared memory included (only the
    launch's bytes are the kernel's), no undefined behaviour. ThreadSanitizer: no data race
    between a block's threads (the shared histogram's zeroing, counting and adding out)."""
    if sanitizer_runtime(sanitizer) is None:
        pytest.skip(f"no {sanitizer} sanitizer runtime of g++ that a Python can preload here")
    launches, expected = recorded_launches(emulated_gpu)
    results, stderr = sanitized_replay(launches, sanitizer, render_gpu.KERNEL_SOURCE, tmp_path)
    assert results is not None, stderr[-3000:]
    assert "Sanitizer" not in stderr, stderr[-3000:]
    for got, (hist, escapes) in zip(results, expected):
        np.testing.assert_array_equal(got["hist"], hist)
        np.testing.assert_array_equal(got["escapes"], escapes)


FLUSH = "for (int i = threadIdx.x; i < npix; i += blockDim.x) out[i] = local[i];"
PACKED_OUT = "every thread\n                __syncthreads();"
MUTANTS = {  # a bug planted in the kernel -> what the sanitizer must say
    "no barrier after zeroing": ("thread", "local[i] = 0;\n    __syncthreads();",
                                 "local[i] = 0;", "ThreadSanitizer: data race"),
    "no barrier before adding packed counters out": ("thread", PACKED_OUT,
                                                     PACKED_OUT.replace("__syncthreads();", ""),
                                                     "ThreadSanitizer: data race"),
    "shared read past the launch's bytes": ("address", FLUSH, FLUSH.replace("<", "<="),
                                            "AddressSanitizer: use-after-poison"),
    "global write past the last frame": ("address", "int* out = hist + (long long)f * npix;",
                                         "int* out = hist + (long long)f * npix + 1;",
                                         "AddressSanitizer: heap-buffer-overflow"),
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_the_sanitizers_report_planted_bugs(emulated_gpu, mutant, tmp_path):
    """The check above can fail: each planted bug stops the sanitized run, saying what it is."""
    sanitizer, good, bad, report = MUTANTS[mutant]
    if sanitizer_runtime(sanitizer) is None:
        pytest.skip(f"no {sanitizer} sanitizer runtime of g++ that a Python can preload here")
    launches, _ = recorded_launches(emulated_gpu)
    source = render_gpu.KERNEL_SOURCE.read_text()
    assert good in source
    (tmp_path / "chaos.cu").write_text(source.replace(good, bad))
    results, stderr = sanitized_replay(launches, sanitizer, tmp_path / "chaos.cu", tmp_path)
    assert results is None and report in stderr, stderr[-3000:]


def test_a_write_past_the_launch_shared_memory_is_reported(emulated_gpu, monkeypatch, tmp_path):
    """The emulator gives a launch only the shared bytes it asked for."""
    args = histogram_args(every_variation(frames=1)[:2], 48, 32, 300, 10)
    zeroing = "for (int i = threadIdx.x; i < nlocal; i += blockDim.x) local[i] = 0;"
    source = render_gpu.KERNEL_SOURCE.read_text()
    assert zeroing in source
    (tmp_path / "chaos.cu").write_text(source.replace(zeroing, zeroing.replace("<", "<=")))
    monkeypatch.setattr(render_gpu, "KERNEL_SOURCE", tmp_path / "chaos.cu")
    with pytest.raises(RuntimeError, match="past the 9216 bytes"):
        render_gpu.chaos_histograms_gpu(*args, histogram="shared")


def test_gpu_workers_default_to_what_the_device_memory_holds(emulated_gpu, monkeypatch):
    """One per core up to 16, and no more workers than 90% of the GPU's memory holds at
    gpu_worker_bytes each (2.25 GB at paper settings, batch 128): a 16 GB card gets 6."""
    import cupy

    from fractalvid.pipelines import sizing
    from fractalvid.pipelines.config import build_config

    monkeypatch.setattr(sizing, "cpu_count", lambda: 16)
    monkeypatch.setattr(sizing, "host_memory", lambda: 64 * 10**9)
    paper = build_config("paper")
    small = build_config("paper", {"resolution": 128})  # a quarter of the pixels
    memory = {}
    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceProperties",
                        lambda i: {"totalGlobalMem": memory["bytes"]})
    for gigabytes, cfg, batch, workers in ((80, paper, None, 16), (16, paper, None, 6),
                                           (16, paper, 64, 8), (4, paper, None, 1),
                                           (1, paper, None, 1),
                                           (4, small, None, 2)):
        memory["bytes"] = gigabytes * 10**9
        assert sizing.default_workers("gpu", cfg, batch) == workers, (gigabytes, batch)
    assert sizing.gpu_worker_bytes(paper, 128) == 2**30 + 128 * 20 * 256**2 * 7
    # Large frames on a small card: the batch shrinks, in blocks of 8, until a worker fits.
    large = build_config("paper", {"resolution": 1024})
    huge = build_config("paper", {"resolution": 2048})
    for gigabytes, cfg, batch, workers in ((80, paper, 128, 16), (80, large, 128, 3),
                                           (16, large, 88, 1), (80, huge, 120, 1),
                                           (16, huge, 16, 1)):
        memory["bytes"] = gigabytes * 10**9
        assert sizing.default_batch("gpu", cfg) == batch, (gigabytes, cfg.resolution)
        assert sizing.gpu_worker_bytes(cfg, batch) <= 0.9 * memory["bytes"]
        assert sizing.default_workers("gpu", cfg) == workers, (gigabytes, cfg.resolution)
    assert sizing.default_batch("cpu", huge) == 8 and sizing.default_batch("gpu") == 128
    assert sizing.default_workers("gpu") == 16  # without a config: cores alone
    assert sizing.default_workers("cpu", paper) == 16


def test_gpu_out_of_memory_says_what_to_do(emulated_gpu, monkeypatch, cli, tmp_path):
    import cupy

    from fractalvid.pipelines import run

    def exhausted(*args, **kwargs):  # cupy's error, as a worker re-raises it
        raise cupy.cuda.memory.OutOfMemoryError("out of memory allocating 671,088,640 bytes")

    monkeypatch.setattr(run, "run_shards", exhausted)
    result = cli("generate", "--out", tmp_path / "x", "--backend", "gpu", "--workers", "3")
    assert result.exit_code == 1
    assert "GPU ran out of memory with 3 worker(s): pass fewer --workers" in result.output
    assert "Traceback" not in result.output

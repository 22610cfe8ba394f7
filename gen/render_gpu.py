"""The GPU renderer: the chaos game of ``chaos.cu`` through CuPy, the same interface as the CPU.

Parameter sampling stays on the CPU: it is a few kilobytes per clip and microseconds of work,
and the CPU's keyed streams then give the GPU exactly the classes and instances the CPU path
draws. Alias tables are built on the host too (tiny). Everything per pixel happens on the
device: the coarse framing pass, the full pass (many frames per launch, one block per frame),
the 3x3 box filter and the tone map; frames come back as cupy arrays, so the compose stage can
run on the device as well, and only finished uint8 clips cross to the host.

The steps around the kernel (framing, tone map) are the CPU's, in ``render.render_batch``;
framing boxes are computed on the host from the coarse occupancy (128 x 128 bits per frame).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .chaos import alias_tables, alias_thresholds
from .render import Rendered, RenderJob, RenderSettings, render_batch

KERNEL_SOURCE = Path(__file__).with_name("chaos.cu")
THREADS = 128  # chains per block at a time; paper settings run 128 chains per frame
BOX_CHUNK = 256  # frames box-filtered at a time (two temporaries of 64 MB each at 256 px)
# Where the kernel counts a frame's points (chaos.cu, hist_mode): the kernel's number for each.
HISTOGRAMS = {"global": 0, "shared": 1, "packed": 2}


def gpu_status() -> str | None:
    """None when CuPy imports and sees a CUDA device; else why not, in a phrase."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install -e '.[gpu]' on a machine with an NVIDIA GPU)"
    except Exception as exc:  # a broken install is also "no GPU"
        return f"CuPy does not import ({exc})"
    version = getattr(cupy, "__version__", "?")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no runtime: each means "no GPU"
        return f"CuPy {version} finds no CUDA driver or device ({exc})"
    return None if count > 0 else f"CuPy {version} sees no CUDA device"


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return gpu_status() is None


def kernel_options(fmad: bool) -> tuple[str, ...]:
    """NVRTC options of the chaos kernel; fmad=False forbids fused multiply-adds."""
    return ("-std=c++14",) if fmad else ("-std=c++14", "--fmad=false")


@lru_cache(maxsize=2)
def _kernel(fmad: bool = True):
    import cupy

    return cupy.RawKernel(KERNEL_SOURCE.read_text(), "chaos_frames", options=kernel_options(fmad))


def histogram_bytes(histogram: str, npix: int) -> int:
    """Dynamic shared memory a block takes for an ``npix``-pixel histogram kept ``histogram``
    way: 4 bytes a pixel ("shared"), 2 ("packed", 16-bit counters in pairs), none ("global")."""
    return {"global": 0, "shared": 4 * npix, "packed": 4 * ((npix + 1) // 2)}[histogram]


def device_shared_limit() -> int:
    """The most dynamic shared memory a block may opt in to on the current device: 227 KB on
    Hopper, 163 KB on A100, 99 KB on consumer GPUs (sm_86, sm_89, sm_120)."""
    import cupy

    return int(cupy.cuda.Device().attributes["MaxSharedMemoryPerBlockOptin"])


def choose_histogram(npix: int, histogram: str = "auto", limit: int | None = None) -> str:
    """Where the kernel counts: ``histogram`` itself if it fits in ``limit`` bytes of shared
    memory (None: the current device's, device_shared_limit, asked only for a shared-memory
    mode). "auto" is global atomics at every size: the fastest at the paper's 256 px on an
    H100 and an H200, and close to the best at 128 px (figures in docs/gpu.md)."""
    if histogram == "auto":
        return "global"
    if histogram not in HISTOGRAMS:
        raise ValueError(f"histogram: {histogram!r} is not one of auto, {', '.join(HISTOGRAMS)}")
    if limit is None and histogram_bytes(histogram, npix):
        limit = device_shared_limit()
    if histogram_bytes(histogram, npix) > (limit or 0):
        raise ValueError(f"histogram: {npix} pixels do not fit in this device's shared memory "
                         f"as {histogram!r} ({histogram_bytes(histogram, npix)} > {limit} "
                         "bytes); use 'global'")
    return histogram


def chaos_histograms_gpu(coefs, probs, nmaps, vids, views, seeds, chains, iters, burn,
                         exact=True, histogram="auto"):
    """Device twin of ``chaos.chaos_histograms``: host arrays in (as there), returns
    (hist [F, H * W] int32 cupy, escapes [F] uint64 cupy). Frames of a launch share H and W.

    exact: compile without fused multiply-adds, so every operation rounds as on the CPU and
    the counts equal the CPU's bit for bit (the kernel uses no device math library function
    whose last bits differ from the CPU's: see the portable functions in chaos.cu). exact=False
    lets the compiler fuse; the renders then agree with the CPU's statistically.
    histogram: where the kernel counts (choose_histogram); the counts are the same in each."""
    import cupy

    f, nmax = probs.shape
    height, width = int(views[0, 5]), int(views[0, 4])
    mode = choose_histogram(height * width, histogram)
    prob = np.ones((f, nmax))
    alias = np.zeros((f, nmax), np.int64)
    alias_tables(probs, nmaps, prob, alias)
    thresholds = alias_thresholds(prob)  # what the CPU's integer draw compares against
    hist = cupy.zeros((f, height * width), cupy.int32)
    escapes = cupy.zeros(f, cupy.uint64)
    shared = histogram_bytes(mode, height * width)
    args = (
        cupy.asarray(coefs, cupy.float32), cupy.asarray(thresholds, cupy.uint32),
        cupy.asarray(alias, cupy.int32),
        cupy.asarray(nmaps, cupy.int64), cupy.asarray(vids, cupy.int64),
        cupy.asarray(views, cupy.float32), cupy.asarray(seeds, cupy.uint64),
        np.int32(nmax), np.int32(chains), np.int32(iters), np.int32(burn),
        np.int32(HISTOGRAMS[mode]), hist, escapes,
    )
    kernel = _kernel(fmad=not exact)
    if shared:
        kernel.max_dynamic_shared_size_bytes = shared
    kernel((f,), (min(THREADS, chains),), args, shared_mem=shared)
    return hist, escapes


def box3(counts, xp):
    """3x3 box sum of counts [F, H, W] int32 on ``xp`` (cupy, or numpy), zeros beyond the
    borders: what ``chaos._box3`` computes on the CPU."""
    padded = xp.pad(counts, ((0, 0), (1, 1), (1, 1)))
    h, w = counts.shape[1:]
    out = xp.zeros_like(counts)
    for dy in range(3):
        for dx in range(3):
            out += padded[:, dy : dy + h, dx : dx + w]
    return out


class GpuRenderer:
    """CuPy chaos game; one launch per pass for the whole batch of clips. ``exact`` (the
    default): frames equal the CPU renderer's, byte for byte (see chaos_histograms_gpu);
    ``histogram``: where the kernel counts (choose_histogram), the same frames in each."""

    name = "gpu"

    def __init__(self, exact: bool = True, histogram: str = "auto"):
        choose_histogram(1, histogram)  # a bad name fails here, before any work
        self.exact = exact
        self.histogram = histogram

    def _histograms(self, coefs, probs, nmaps, vids, views, seeds, chains, iters, burn, splat):
        import cupy

        hist, escapes = chaos_histograms_gpu(coefs, probs, nmaps, vids, views, seeds, chains,
                                             iters, burn, self.exact, self.histogram)
        if splat:  # in chunks of frames: a whole batch at once would hold three copies
            counts = hist.reshape(hist.shape[0], int(views[0, 5]), int(views[0, 4]))
            for at in range(0, counts.shape[0], BOX_CHUNK):
                counts[at : at + BOX_CHUNK] = box3(counts[at : at + BOX_CHUNK], cupy)
        return hist, escapes

    def render(self, jobs: list[RenderJob], settings: RenderSettings) -> list[Rendered]:
        import cupy

        return render_batch(jobs, settings, self._histograms, cupy)


def out_of_gpu_memory(exc: BaseException) -> bool:
    """True for CuPy's out-of-memory error (raised in a worker, re-raised here)."""
    try:
        import cupy
    except ImportError:
        return False
    error = getattr(getattr(getattr(cupy, "cuda", None), "memory", None), "OutOfMemoryError", None)
    return isinstance(error, type) and isinstance(exc, error)

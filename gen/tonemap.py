"""Tone mapping of count histograms to 8-bit frames, exactly the same on every backend."""

from __future__ import annotations

import math
from functools import lru_cache

import numba as nb
import numpy as np

# float32 puts a pixel within 1e-4 of its exact place on the 0-255 scale; pixels closer than
# this to a rounding boundary take their level from exact integer thresholds instead.
_DOUBT = 1e-3
CHUNK_PIXELS = 4 * 2**20  # pixels mapped at a time: 16 MB per float32 temporary
LUT_PEAK = 1 << 22  # up to this peak count, a table of every count's level (4 MB at most)
_NEAR_INTEGER = 1e-12  # relative: far above the few ulps two expm1s may differ by


@lru_cache(maxsize=4096)  # a pure function of the peak, asked for once a frame of stills
def level_thresholds(peak: int) -> np.ndarray:
    """[255] int64 (read-only): the smallest count of each level 1..255 for a clip whose
    largest count is ``peak`` (level L from log1p(count) * 255 / log1p(peak) >= L - 0.5),
    ceil(expm1((L - 0.5) log1p(peak) / 255)) in float64 by the host's math library, so every
    backend uses the same ones. numpy's expm1 (whose last bits may differ: SIMD builds) gives
    all but those within _NEAR_INTEGER of an integer, where the ceiling could differ; the
    math library gives those."""
    scale = math.log1p(peak) / 255.0
    x = (np.arange(1, 256) - 0.5) * scale  # the same float64 products as one at a time
    v = np.expm1(x)
    out = np.ceil(v).astype(np.int64)
    for i in np.flatnonzero(np.abs(v - np.rint(v)) <= _NEAR_INTEGER * np.maximum(v, 1.0)):
        out[i] = math.ceil(math.expm1(x[i]))
    out.flags.writeable = False
    return out


def level_table(peak: int) -> np.ndarray:
    """[peak + 1] uint8: the level of each count 0..peak, by ``level_thresholds`` (the
    number of thresholds at or below the count)."""
    out = np.empty(peak + 1, np.uint8)
    _fill_levels(level_thresholds(peak), out)
    return out


@nb.njit(cache=True, nogil=True)
def _fill_levels(thresholds, out):  # pragma: no cover (numba)
    # thresholds [255] int64 ascending -> out[c] = #{L: thresholds[L] <= c}, c in 0..len - 1:
    # level L fills the counts from its threshold up to the next one's
    n = out.shape[0]
    at = 0
    for level in range(thresholds.shape[0]):
        stop = min(max(thresholds[level], at), n)
        out[at:stop] = level
        at = stop
    out[at:] = thresholds.shape[0]


def tone_map(counts, xp=np):
    """``log(1 + count)`` scaled by the clip's maximum: [T, H, W] int32 -> [T, H, W] uint8,
    on the array module ``xp`` (numpy, or cupy on the GPU path).

    One scale for the whole clip, so brightness does not flicker from frame to frame. The
    level of a count is defined by ``level_thresholds``: up to LUT_PEAK a table of every
    count's level is looked up; above, float32 math (whose last bits differ between numpy
    builds and GPUs) finds it fast, and is overruled near a boundary.
    Frames go CHUNK_PIXELS at a time, which bounds the float temporaries at large sizes.
    """
    peak = int(counts.max())
    out = xp.zeros(counts.shape, xp.uint8)
    if peak <= 0:
        return out
    if peak <= LUT_PEAK and xp is np:  # (numpy's fancy indexing: several times slower)
        _look_up(counts.reshape(-1), level_table(peak), out.reshape(-1))
        return out
    if peak <= LUT_PEAK:  # the level of every count 0..peak, looked up: exact, and cheap
        lut = xp.asarray(level_table(peak))

        def levels(chunk):
            return lut[chunk]
    else:
        scale = xp.float32(255.0 / math.log1p(peak))
        thresholds = xp.asarray(level_thresholds(peak).astype(counts.dtype))  # <= peak: fits

        def levels(chunk):
            return _levels(chunk, scale, thresholds, xp)
    step = max(1, CHUNK_PIXELS // max(1, counts[0].size))
    for at in range(0, counts.shape[0], step):
        out[at : at + step] = levels(counts[at : at + step])
    return out


@nb.njit(cache=True, nogil=True)
def _look_up(counts, lut, out):  # pragma: no cover (numba)
    # counts [P] int32 in 0..len(lut) - 1 -> out [P] uint8 = lut[counts]
    for i in range(counts.shape[0]):
        out[i] = lut[counts[i]]


def _levels(counts, scale, thresholds, xp):
    """Levels of counts [t, H, W] int32 (see tone_map) -> [t, H, W] uint8."""
    shifted = xp.log1p(counts.astype(xp.float32)) * scale + xp.float32(0.5)
    levels = xp.floor(shifted)
    frac = shifted - levels
    near = (frac < _DOUBT) | (frac > 1.0 - _DOUBT)
    levels = levels.astype(xp.int32)
    levels[near] = xp.searchsorted(thresholds, counts[near], side="right").astype(xp.int32)
    return xp.clip(levels, 0, 255).astype(xp.uint8)

"""Painting kernels of the baseline generators (numba): filled shapes, blur, outlines.

Every kernel works on whole frame stacks in place, one frame a thread.
"""

from __future__ import annotations

import numba as nb
import numpy as np


def bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi), each [D] float64: the least and greatest of points [..., D] along each of the
    last axis's D coordinates. One contiguous-strided reduction per coordinate: numpy's
    ``min(axis=(0, 1))`` over an interleaved last axis is about 30x slower at these sizes."""
    flat = points.reshape(-1, points.shape[-1])
    d = flat.shape[1]
    return (np.array([flat[:, k].min() for k in range(d)]),
            np.array([flat[:, k].max() for k in range(d)]))


@nb.njit(parallel=True, cache=True, nogil=True)
def paint_shapes(out, centers, radius, sides, rotation, colors, only_on):
    """Paint shapes in order (later ones cover earlier ones) into ``out`` [T, H, W, 3] uint8.

    centers [T, S, 2] float64 (x, y) in pixels; radius [S] float64 pixels; sides [S] int64
    (below 3: a circle; else a regular polygon with a vertex at angle ``rotation``);
    rotation [S] float64 radians; colors [S, 3] uint8. ``only_on``: paint only pixels that are
    not black already (recolouring a stroke). A pixel is inside when its centre is.
    """
    t_n, h, w = out.shape[0], out.shape[1], out.shape[2]
    s_n = centers.shape[1]
    for t in nb.prange(t_n):
        for s in range(s_n):
            cx, cy, r = centers[t, s, 0], centers[t, s, 1], radius[s]
            x0, x1 = max(0, int(np.floor(cx - r))), min(w - 1, int(np.ceil(cx + r)))
            y0, y1 = max(0, int(np.floor(cy - r))), min(h - 1, int(np.ceil(cy + r)))
            n = sides[s]
            # a regular polygon is the intersection of n half-planes at the apothem's distance
            k = n if n >= 3 else 1
            nx = np.empty(k)
            ny = np.empty(k)
            for e in range(k):
                a = rotation[s] + (2 * e + 1) * np.pi / max(n, 3)
                nx[e], ny[e] = np.cos(a), np.sin(a)
            apothem = r * np.cos(np.pi / max(n, 3))
            for y in range(y0, y1 + 1):
                dy = y + 0.5 - cy
                for x in range(x0, x1 + 1):
                    dx = x + 0.5 - cx
                    if n < 3:
                        inside = dx * dx + dy * dy <= r * r
                    else:
                        inside = True
                        for e in range(k):
                            if dx * nx[e] + dy * ny[e] > apothem:
                                inside = False
                    if inside and only_on:
                        inside = (out[t, y, x, 0] | out[t, y, x, 1] | out[t, y, x, 2]) > 0
                    if inside:
                        out[t, y, x, 0] = colors[s, 0]
                        out[t, y, x, 1] = colors[s, 1]
                        out[t, y, x, 2] = colors[s, 2]


@nb.njit(cache=True, nogil=True)
def _box_columns(src, dst, r):
    """dst[y, x] = mean of src[y - r .. y + r, x], zero outside: a running sum down the
    columns, a whole row at a time. Spelled out as loops over the row (no array
    temporaries), so each row vectorizes; the sums are those of array arithmetic, in order."""
    h, w = src.shape
    scale = np.float32(1.0 / (2 * r + 1))
    acc = np.zeros(w, np.float32)
    for y in range(min(r, h)):
        for x in range(w):
            acc[x] += src[y, x]
    for y in range(h):
        if y + r < h:
            for x in range(w):
                acc[x] += src[y + r, x]
        if y - r - 1 >= 0:
            for x in range(w):
                acc[x] -= src[y - r - 1, x]
        for x in range(w):
            dst[y, x] = acc[x] * scale


@nb.njit(cache=True, nogil=True)
def _transpose(src, dst):
    """dst [W, H] = src [H, W].T, in 32 x 32 tiles that stay in cache (a plain strided copy
    misses on every element)."""
    h, w = src.shape
    for y0 in range(0, h, 32):
        for x0 in range(0, w, 32):
            for x in range(x0, min(x0 + 32, w)):
                for y in range(y0, min(y0 + 32, h)):
                    dst[x, y] = src[y, x]


def box_radii(sigma: float, passes: int = 3) -> int:
    """The box radius whose ``passes`` repeated box filters have a Gaussian's ``sigma``."""
    return max(1, int(round((np.sqrt(12.0 * sigma * sigma / passes + 1.0) - 1.0) / 2.0)))


def blur(frames: np.ndarray, rx: int, ry: int) -> None:
    """An approximate Gaussian blur of ``frames`` [T, H, W] float32, in place: three box filters
    of radius ``rx`` along rows, then three of ``ry`` along columns (O(1) a pixel whatever
    sigma; ``box_radii`` picks the radii). Zero outside the frame."""
    _blur(frames, rx, ry, max(1, min(frames.shape[0], nb.get_num_threads())))


@nb.njit(parallel=True, cache=True, nogil=True)
def _blur(frames, rx, ry, chunks):
    """``blur`` on ``chunks`` threads, each taking every chunks-th frame."""
    t_n, h, w = frames.shape
    for c in nb.prange(chunks):
        # scratch once a thread, not once a frame: fresh large arrays fault their pages in
        at = np.empty((w, h), np.float32)
        bt = np.empty((w, h), np.float32)
        b = np.empty((h, w), np.float32)
        for t in range(c, t_n, chunks):
            a = frames[t]
            _transpose(a, at)  # along rows as down the columns of the transpose: vectorizes
            _box_columns(at, bt, rx)
            _box_columns(bt, at, rx)
            _box_columns(at, bt, rx)
            _transpose(bt, b)
            _box_columns(b, a, ry)
            _box_columns(a, b, ry)
            _box_columns(b, a, ry)


def _extreme(pick):
    """A kernel ``(src, dst, k, step, along_rows)``: dst = pick (np.maximum: dilation,
    np.minimum: erosion) of src [H, L] over a window of k places, along each row in steps of
    ``step`` elements (a pixel's channels are interleaved) or down the columns; window offsets
    -(k // 2) .. k - 1 - k // 2, places outside the image left out. One kernel per pick, so
    the inner loops hold no branch and vectorize."""

    @nb.njit(cache=True, nogil=True)
    def kernel(src, dst, k, step, along_rows):
        h, n = src.shape
        dst[:, :] = src
        for j in range(k):
            off = j - k // 2
            if off == 0:
                continue
            if along_rows:
                d = off * step
                a, b = max(0, -d), min(n, n - d)
                for y in range(h):
                    pick(dst[y, a:b], src[y, a + d:b + d], dst[y, a:b])
            else:
                for y in range(max(0, -off), min(h, h - off)):
                    pick(dst[y], src[y + off], dst[y])

    return kernel


_dilate = _extreme(np.maximum)
_erode = _extreme(np.minimum)


@nb.njit(parallel=True, cache=True, nogil=True)
def outline(frames, kh, kw):
    """Keep only the outlines of ``frames`` [T, H, W, 3] uint8, in place: a morphological
    gradient (dilation minus erosion, per channel) with a kh[t] x kw[t] rectangle (kh, kw [T]
    int64)."""
    t_n, h, w, c = frames.shape
    for t in nb.prange(t_n):
        img = frames[t].reshape(h, w * c)
        row = np.empty_like(img)
        hi = np.empty_like(img)
        lo = np.empty_like(img)
        _dilate(img, row, kw[t], c, True)
        _dilate(row, hi, kh[t], c, False)
        _erode(img, row, kw[t], c, True)
        _erode(row, lo, kh[t], c, False)
        img[:, :] = hi - lo

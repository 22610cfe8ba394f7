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


@nb.njit(cache=True, nogil=True)
def _inside(x, dy, cx, r, n, nx, ny, apothem):
    """Whether pixel column x's centre, dy below the shape's centre, lies in the shape."""
    dx = x + 0.5 - cx
    if n < 3:
        return dx * dx + dy * dy <= r * r
    for e in range(nx.size):
        if dx * nx[e] + dy * ny[e] > apothem:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _row_span(x0, x1, dy, cx, r, n, nx, ny, apothem):
    """(a, b): the columns a..b of x0..x1 whose centres ``_inside`` holds for (a > b: none).

    For a fixed row each test is monotone in x (a rounded difference, times a constant, plus a
    constant), so the columns inside form one run. The run is estimated from the edges'
    equations, then its ends are moved until ``_inside`` itself agrees: the same pixels as
    testing every one. Where the estimate finds no pixel inside, the row is tested whole."""
    lo, hi = -1e300, 1e300
    if n < 3:
        q = r * r - dy * dy
        if q >= 0.0:
            lo, hi = -np.sqrt(q), np.sqrt(q)
        else:
            lo, hi = 1.0, -1.0
    else:
        for e in range(nx.size):
            c = apothem - dy * ny[e]
            if nx[e] > 1e-9:
                hi = min(hi, c / nx[e])
            elif nx[e] < -1e-9:
                lo = max(lo, c / nx[e])
            elif c < 0.0:
                lo, hi = 1.0, -1.0
    p = -1
    if lo <= hi:
        mid = 0.5 * (lo + hi) + cx - 0.5
        p = int(min(max(np.floor(mid + 0.5), x0), x1))
        if not _inside(p, dy, cx, r, n, nx, ny, apothem):
            p = -1
    if p < 0:  # no pixel found inside from the estimate: test the row
        for x in range(x0, x1 + 1):
            if _inside(x, dy, cx, r, n, nx, ny, apothem):
                p = x
                break
        if p < 0:
            return 1, 0
    a = p
    guess = int(min(max(np.ceil(lo + cx - 0.5), x0), p))
    if _inside(guess, dy, cx, r, n, nx, ny, apothem):
        a = guess
    while a > x0 and _inside(a - 1, dy, cx, r, n, nx, ny, apothem):
        a -= 1
    while not _inside(a, dy, cx, r, n, nx, ny, apothem):  # guess was outside: step in
        a += 1
    b = p
    guess = int(max(min(np.floor(hi + cx - 0.5), x1), p))
    if _inside(guess, dy, cx, r, n, nx, ny, apothem):
        b = guess
    while b < x1 and _inside(b + 1, dy, cx, r, n, nx, ny, apothem):
        b += 1
    return a, b


@nb.njit(parallel=True, cache=True, nogil=True)
def paint_shapes(out, centers, radius, sides, rotation, colors, only_on):
    """Paint shapes in order (later ones cover earlier ones) into ``out`` [T, H, W, 3] uint8.

    centers [T, S, 2] float64 (x, y) in pixels; radius [S] float64 pixels; sides [S] int64
    (below 3: a circle; else a regular polygon with a vertex at angle ``rotation``);
    rotation [S] float64 radians; colors [S, 3] uint8. ``only_on``: paint only pixels that are
    not black already (recolouring a stroke). A pixel is inside when its centre is; a row of a
    shape is painted as one run of columns (``_row_span``).
    """
    t_n, h, w = out.shape[0], out.shape[1], out.shape[2]
    s_n = centers.shape[1]
    for t in nb.prange(t_n):
        for s in range(s_n):
            cx, cy, r = centers[t, s, 0], centers[t, s, 1], radius[s]
            x0, x1 = max(0, int(np.floor(cx - r))), min(w - 1, int(np.ceil(cx + r)))
            y0, y1 = max(0, int(np.floor(cy - r))), min(h - 1, int(np.ceil(cy + r)))
            if x0 > x1:
                continue
            n = sides[s]
            # a regular polygon is the intersection of n half-planes at the apothem's distance
            k = n if n >= 3 else 0
            nx = np.empty(k)
            ny = np.empty(k)
            for e in range(k):
                a = rotation[s] + (2 * e + 1) * np.pi / max(n, 3)
                nx[e], ny[e] = np.cos(a), np.sin(a)
            apothem = r * np.cos(np.pi / max(n, 3))
            c0, c1, c2 = colors[s, 0], colors[s, 1], colors[s, 2]
            for y in range(y0, y1 + 1):
                a, b = _row_span(x0, x1, y + 0.5 - cy, cx, r, n, nx, ny, apothem)
                for x in range(a, b + 1):
                    if not only_on or (out[t, y, x, 0] | out[t, y, x, 1] | out[t, y, x, 2]) > 0:
                        out[t, y, x, 0] = c0
                        out[t, y, x, 1] = c1
                        out[t, y, x, 2] = c2


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

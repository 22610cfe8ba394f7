"""Geometric warps of whole frame stacks, written once for any array module (numpy or cupy).

Transforms are 3x3 homographies in pixel coordinates (x right, y down, pixel centres at
integer + 0.5) that map *source* positions to *output* positions. They are built on the host in
float64 (they are tiny) and applied by inverse sampling: every output pixel looks up its source
position with bilinear interpolation; positions outside the source read as black.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np


def translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def scale(sx: float, sy: float | None = None) -> np.ndarray:
    return np.diag([sx, sx if sy is None else sy, 1.0])


def rotate(degrees: float) -> np.ndarray:
    """Rotation by ``degrees`` (counter-clockwise on screen, where y points down)."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def about(m: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """``m`` applied about the point (cx, cy) instead of the origin."""
    return translate(cx, cy) @ m @ translate(-cx, -cy)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The homography taking the 4 points ``src`` [4, 2] to ``dst`` [4, 2] (DLT, h33 = 1)."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    h = np.linalg.solve(a, b)
    return np.append(h, 1.0).reshape(3, 3)


def warp_frames(frames: Any, forward: np.ndarray, out_hw: tuple[int, int], xp: Any = np) -> Any:
    """Warp each frame by its own transform.

    frames: [T, H, W] or [T, H, W, C] float32 (numpy or cupy, as ``xp``);
    forward: [T, 3, 3] float64 source -> output homographies (host array);
    returns [T, out_H, out_W(, C)] float32 on ``xp``, black where the source is missing.
    numpy arrays go through a numba kernel (one pass, no temporaries); others through
    ``warp_frames_xp``.
    """
    if xp is not np:
        return warp_frames_xp(frames, forward, out_hw, xp)
    inv = np.linalg.inv(forward).astype(np.float32)
    src = np.ascontiguousarray(frames, dtype=np.float32)
    src4 = src.reshape(src.shape[:3] + (-1,))
    out = np.empty((src.shape[0], out_hw[0], out_hw[1], src4.shape[3]), np.float32)
    if _axis_aligned(inv):
        _warp_axis_kernel(src4, inv, out)
    else:
        _warp_kernel(src4, inv, out)
    return out.reshape(out.shape[:3] + frames.shape[3:])


def _axis_aligned(inv: np.ndarray) -> bool:
    """Whether every transform of inv [T, 3, 3] float32 only scales and moves each axis:
    then x maps to u alone and y to v alone, and the denominator is 1."""
    return bool(np.all(inv[:, 0, 1] == 0) and np.all(inv[:, 1, 0] == 0) and
                np.all(inv[:, 2, :2] == 0) and np.all(inv[:, 2, 2] == 1))


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _warp_axis_kernel(src, inv, out):
    """``_warp_kernel`` for transforms that ``_axis_aligned`` accepts, with its bytes: each
    column's taps and weights once a frame and each row's once, where the general kernel
    finds every pixel's (its sums have the same terms in the same order: a zero coefficient
    adds a signed zero, which changes nothing, and the denominator is exactly 1)."""
    t_n, h, w, c_n = src.shape
    oh, ow = out.shape[1], out.shape[2]
    flat = src.reshape((t_n, h * w * c_n))
    xa = np.empty((t_n, ow), np.int32)
    xb = np.empty((t_n, ow), np.int32)
    fxs = np.empty((t_n, ow), np.float32)
    ok = np.empty((t_n, 3, ow), np.bool_)  # inside, left tap in, right tap in
    for t in range(t_n):
        m = inv[t]
        for j in range(ow):
            x = np.float32(j) + _HALF
            u = m[0, 0] * x + m[0, 2] - _HALF
            inside = u > _MINUS_ONE and u < np.float32(w)
            u = u if inside else _ZERO
            fu = np.floor(u)
            x0 = np.int32(fu)
            fxs[t, j] = u - fu
            xa[t, j], xb[t, j] = max(x0, 0), min(x0 + 1, w - 1)
            ok[t, 0, j], ok[t, 1, j], ok[t, 2, j] = inside, x0 >= 0, x0 + 1 < w
    for job in nb.prange(t_n * oh):
        t = job // oh
        row = job % oh
        m = inv[t]
        v = m[1, 1] * (np.float32(row) + _HALF) + m[1, 2] - _HALF
        inside = v > _MINUS_ONE and v < np.float32(h)
        v = v if inside else _ZERO
        fv = np.floor(v)
        y0 = np.int32(fv)
        fy = v - fv
        top, bottom = max(y0, 0) * w, min(y0 + 1, h - 1) * w
        up_in, down_in = y0 >= 0, y0 + 1 < h
        weights = np.empty((4, ow), np.float32)
        for x_i in range(ow):  # (arithmetic and selects only: vectorizes)
            fx = fxs[t, x_i]
            left, right = ok[t, 1, x_i], ok[t, 2, x_i]
            weights[0, x_i] = (_ONE - fy) * (_ONE - fx) if up_in and left else _ZERO
            weights[1, x_i] = (_ONE - fy) * fx if up_in and right else _ZERO
            weights[2, x_i] = fy * (_ONE - fx) if down_in and left else _ZERO
            weights[3, x_i] = fy * fx if down_in and right else _ZERO
        source = flat[t]
        target = out[t, row]
        if c_n == 1:
            for x_i in range(ow):
                a, b = xa[t, x_i], xb[t, x_i]
                acc = source[top + a] * weights[0, x_i]
                acc += source[top + b] * weights[1, x_i]
                acc += source[bottom + a] * weights[2, x_i]
                acc += source[bottom + b] * weights[3, x_i]
                target[x_i, 0] = acc if inside and ok[t, 0, x_i] else _ZERO
        else:
            for x_i in range(ow):
                a, b = xa[t, x_i], xb[t, x_i]
                for ch in range(c_n):
                    acc = source[(top + a) * c_n + ch] * weights[0, x_i]
                    acc += source[(top + b) * c_n + ch] * weights[1, x_i]
                    acc += source[(bottom + a) * c_n + ch] * weights[2, x_i]
                    acc += source[(bottom + b) * c_n + ch] * weights[3, x_i]
                    target[x_i, ch] = acc if inside and ok[t, 0, x_i] else _ZERO


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _warp_kernel(src, inv, out):
    """Bilinear inverse sampling: src [T, H, W, C] (C-contiguous), inv [T, 3, 3] (output ->
    source), out [T, oH, oW, C], all float32. The arithmetic mirrors ``warp_frames_xp``: the four
    taps' weights, zero for a tap outside the source, summed in the same order (a zero-weight
    tap adds +0.0, which changes no sum), and black where the position is outside altogether
    (a zero denominator included: numpy's error model gives inf or NaN, which is outside).
    Clamped tap indices and selects instead of branches. One row at a time: first every
    pixel's taps, arithmetic only, in a loop the compiler vectorizes; then the loads."""
    t_n, h, w, c_n = src.shape
    oh, ow = out.shape[1], out.shape[2]
    flat = src.reshape((t_n, h * w * c_n))
    for job in nb.prange(t_n * oh):
        t = job // oh
        row = job % oh
        m = inv[t]
        mt = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2], m[2, 0], m[2, 1], m[2, 2])
        taps = np.empty((4, ow), np.int32)  # the taps' pixel indices, row-major
        weights = np.empty((4, ow), np.float32)
        seen = np.empty(ow, np.bool_)
        _row_taps(mt, np.float32(row) + _HALF, h, w, taps, weights, seen)
        source = flat[t]
        target = out[t, row]
        if c_n == 1:  # (the common case, without the inner loop)
            for x_i in range(ow):
                acc = source[taps[0, x_i]] * weights[0, x_i]
                acc += source[taps[1, x_i]] * weights[1, x_i]
                acc += source[taps[2, x_i]] * weights[2, x_i]
                acc += source[taps[3, x_i]] * weights[3, x_i]
                target[x_i, 0] = acc if seen[x_i] else _ZERO
        else:
            for x_i in range(ow):
                for ch in range(c_n):
                    acc = source[taps[0, x_i] * c_n + ch] * weights[0, x_i]
                    acc += source[taps[1, x_i] * c_n + ch] * weights[1, x_i]
                    acc += source[taps[2, x_i] * c_n + ch] * weights[2, x_i]
                    acc += source[taps[3, x_i] * c_n + ch] * weights[3, x_i]
                    target[x_i, ch] = acc if seen[x_i] else _ZERO


_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_MINUS_ONE = np.float32(-1.0)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _row_taps(m, y, h, w, taps, weights, seen):
    """The source taps of each pixel of an output row at y (float32, a pixel centre) for the
    transform m (its 9 entries, row-major, a tuple of float32), in an H x W source: taps [4, oW]
    int32 pixel indices (row-major, clamped) of the (top-left, top-right, bottom-left,
    bottom-right) taps, weights [4, oW] float32 (zero for a tap outside the source), seen [oW]
    bool (the position is inside the source at all)."""
    for j in range(seen.shape[0]):
        x = np.float32(j) + _HALF
        den = m[6] * x + m[7] * y + m[8]
        u = (m[0] * x + m[1] * y + m[2]) / den - _HALF
        v = (m[3] * x + m[4] * y + m[5]) / den - _HALF
        inside = u > _MINUS_ONE and u < np.float32(w) and v > _MINUS_ONE and v < np.float32(h)
        u = u if inside else _ZERO  # (so that the indices below are always defined)
        v = v if inside else _ZERO
        fu = np.floor(u)
        fv = np.floor(v)
        x0 = np.int32(fu)
        y0 = np.int32(fv)
        fx = u - fu
        fy = v - fv
        xa, xb = max(x0, 0), min(x0 + 1, w - 1)
        ya, yb = max(y0, 0), min(y0 + 1, h - 1)
        taps[0, j] = ya * w + xa
        taps[1, j] = ya * w + xb
        taps[2, j] = yb * w + xa
        taps[3, j] = yb * w + xb
        weights[0, j] = (_ONE - fy) * (_ONE - fx) if y0 >= 0 and x0 >= 0 else _ZERO
        weights[1, j] = (_ONE - fy) * fx if y0 >= 0 and x0 + 1 < w else _ZERO
        weights[2, j] = fy * (_ONE - fx) if y0 + 1 < h and x0 >= 0 else _ZERO
        weights[3, j] = fy * fx if y0 + 1 < h and x0 + 1 < w else _ZERO
        seen[j] = inside


def warp_frames_xp(frames: Any, forward: np.ndarray, out_hw: tuple[int, int], xp: Any) -> Any:
    """``warp_frames`` with whole-array operations of ``xp`` (numpy or cupy)."""
    t, h, w = frames.shape[:3]
    oh, ow = out_hw
    inv = xp.asarray(np.linalg.inv(forward).astype(np.float32))  # output -> source
    ys = (xp.arange(oh, dtype=xp.float32) + 0.5)[None, :, None]
    xs = (xp.arange(ow, dtype=xp.float32) + 0.5)[None, None, :]
    m = [[inv[:, i, j][:, None, None] for j in range(3)] for i in range(3)]
    den = m[2][0] * xs + m[2][1] * ys + m[2][2]
    u = (m[0][0] * xs + m[0][1] * ys + m[0][2]) / den - 0.5  # source x in pixel-index units
    v = (m[1][0] * xs + m[1][1] * ys + m[1][2]) / den - 0.5
    x0 = xp.floor(u)
    y0 = xp.floor(v)
    fx = u - x0
    fy = v - y0
    x0 = x0.astype(xp.int32)
    y0 = y0.astype(xp.int32)
    flat = frames.reshape((t * h * w,) + frames.shape[3:])
    base = (xp.arange(t, dtype=xp.int32) * (h * w))[:, None, None]
    extra = (slice(None),) * 3 + (None,) * (frames.ndim - 3)  # broadcast weights over channels
    out = None
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        yy = y0 + dy
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xx = x0 + dx
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            idx = base + xp.clip(yy, 0, h - 1) * w + xp.clip(xx, 0, w - 1)
            weight = xp.where(ok, wx * wy, 0.0).astype(xp.float32)
            term = flat[idx] * weight[extra]
            out = term if out is None else out + term
    return out

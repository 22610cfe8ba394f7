"""Framing: choose, per clip, the world box mapped onto the canvas (docs/method.md).

A coarse binary render of frames spread over the clip (every frame by default, which costs
little: a few thousand points each) gives each frame the smallest box keeping ``keep`` of its
occupied pixels; the union of those boxes, padded, frames the whole clip, so the camera never
moves on its own and no frame leaves the canvas.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def trim_box(occ, keep):
    """Smallest box keeping >= ``keep`` of the occupied pixels, trimming edges greedily.

    occ [h, w] bool. The edge row/column with the fewest occupied pixels goes first.
    Returns (r0, r1, c0, c1), half-open; (0, h, 0, w) for an empty image.
    """
    h, w = occ.shape
    total = 0
    for r in range(h):
        for c in range(w):
            total += occ[r, c]
    r0, r1, c0, c1 = 0, h, 0, w
    if total == 0:
        return r0, r1, c0, c1
    inside = total
    need = keep * total
    while r1 - r0 > 1 or c1 - c0 > 1:
        top = 0
        bottom = 0
        for c in range(c0, c1):
            top += occ[r0, c]
            bottom += occ[r1 - 1, c]
        left = 0
        right = 0
        for r in range(r0, r1):
            left += occ[r, c0]
            right += occ[r, c1 - 1]
        best = -1
        fewest = total + 1
        if r1 - r0 > 1:
            if top < fewest:
                best, fewest = 0, top
            if bottom < fewest:
                best, fewest = 1, bottom
        if c1 - c0 > 1:
            if left < fewest:
                best, fewest = 2, left
            if right < fewest:
                best, fewest = 3, right
        if inside - fewest < need:
            break
        inside -= fewest
        if best == 0:
            r0 += 1
        elif best == 1:
            r1 -= 1
        elif best == 2:
            c0 += 1
        else:
            c1 -= 1
    return r0, r1, c0, c1


def clip_window(
    occupancy: np.ndarray, window: float, keep: float = 0.9, pad: float = 0.1
) -> tuple[float, float, float, float]:
    """World box framing a clip from its coarse occupancy renders.

    occupancy: [K, h, w] bool, K coarse frames covering ``[-window, window]^2`` (row 0 = top).
    Returns (x_min, x_max, y_min, y_max), the union of the frames' trimmed boxes padded by
    ``pad`` of its size on each side; never thinner than one coarse pixel.
    """
    _, h, w = occupancy.shape
    cell_x, cell_y = 2.0 * window / w, 2.0 * window / h
    boxes = np.array([trim_box(o, keep) for o in occupancy if o.any()], dtype=np.float64)
    if len(boxes) == 0:
        return -window, window, -window, window
    r0, r1 = boxes[:, 0].min(), boxes[:, 1].max()
    c0, c1 = boxes[:, 2].min(), boxes[:, 3].max()
    x_min, x_max = -window + c0 * cell_x, -window + c1 * cell_x
    y_max, y_min = window - r0 * cell_y, window - r1 * cell_y
    px, py = pad * (x_max - x_min), pad * (y_max - y_min)
    return x_min - px, x_max + px, y_min - py, y_max + py

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

    occ [h, w] bool. The edge row/column with the fewest occupied pixels goes first (ties:
    top, bottom, left, right). Returns (r0, r1, c0, c1), half-open; (0, h, 0, w) for an empty
    image.
    """
    h, w = occ.shape
    # each row's occupied pixels within the columns kept, and each column's within the rows
    # kept: an edge's count is then a lookup, and trimming an edge updates the other sums
    # only where it held a pixel (most trimmed edges are empty)
    rows = np.zeros(h, np.int64)
    cols = np.zeros(w, np.int64)
    for r in range(h):
        n = 0  # a row's count in a register: a store a pixel into rows[r] is twice as slow
        for c in range(w):
            v = np.int64(occ[r, c])
            n += v
            cols[c] += v
        rows[r] = n
    total = rows.sum()
    r0, r1, c0, c1 = 0, h, 0, w
    if total == 0:
        return r0, r1, c0, c1
    inside = total
    need = keep * total
    while r1 - r0 > 1 or c1 - c0 > 1:
        best = -1
        fewest = total + 1
        if r1 - r0 > 1:
            if rows[r0] < fewest:
                best, fewest = 0, rows[r0]
            if rows[r1 - 1] < fewest:
                best, fewest = 1, rows[r1 - 1]
        if c1 - c0 > 1:
            if cols[c0] < fewest:
                best, fewest = 2, cols[c0]
            if cols[c1 - 1] < fewest:
                best, fewest = 3, cols[c1 - 1]
        if inside - fewest < need:
            break
        inside -= fewest
        if fewest and best <= 1:
            _take_out(occ[r0 if best == 0 else r1 - 1], c0, c1, cols)
        elif fewest:
            _take_out(occ[:, c0 if best == 2 else c1 - 1], r0, r1, rows)
        r0, r1 = r0 + (best == 0), r1 - (best == 1)
        c0, c1 = c0 + (best == 2), c1 - (best == 3)
    return r0, r1, c0, c1


@nb.njit(cache=True, inline="always")
def _take_out(edge, first, stop, sums):  # pragma: no cover (numba)
    # a trimmed edge's pixels leave the counts of the lines that cross it
    for k in range(first, stop):
        sums[k] -= edge[k]


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

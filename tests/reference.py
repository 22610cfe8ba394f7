"""A slow, obviously correct chaos game in numpy, to check the fast renderers against."""

import numpy as np

from fractalvid.gen.ifs import map_probabilities


def reference_counts(coefs, view, size, chains, iters, burn, seed):
    """Splatted counts [H, W] of one frame: coefs [N, 6], view (x_left, y_top, sx, sy)."""
    rng = np.random.default_rng(seed)
    p = map_probabilities(coefs[None])[0]
    x = rng.uniform(-1, 1, chains)
    y = rng.uniform(-1, 1, chains)
    counts = np.zeros((size + 2, size + 2), np.int64)
    for step in range(iters):
        k = rng.choice(len(p), size=chains, p=p)
        c = coefs[k]
        x, y = c[:, 0] * x + c[:, 1] * y + c[:, 2], c[:, 3] * x + c[:, 4] * y + c[:, 5]
        if step < burn:
            continue
        fx = (x - view[0]) * view[2]
        fy = (view[1] - y) * view[3]
        ok = (fx >= 0) & (fx < size) & (fy >= 0) & (fy < size)
        ix, iy = fx[ok].astype(int), fy[ok].astype(int)
        for dy in (0, 1, 2):  # 3x3 splat, written out as the method states it
            for dx in (0, 1, 2):
                np.add.at(counts, (iy + dy, ix + dx), 1)
    return counts[1:-1, 1:-1]

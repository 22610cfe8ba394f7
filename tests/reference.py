"""A slow, obviously correct chaos game in numpy, to check the fast renderers against: the
flame variations written out from the flame paper with numpy's own functions (no fast
approximations, no shared code with gen/variations.py)."""

import numpy as np

from fractalvid.gen.ifs import map_probabilities

PI = np.pi
EPS = 1e-12


def _polar(x, y):
    return np.sqrt(x * x + y * y), np.arctan2(x, y)  # r, and the paper's theta = atan(x / y)


def variation(vid, x, y, b, c, e, f, r1, r2):
    """V_vid(x, y) on arrays; b, c, e, f are each point's map coefficients (the paper's
    (a x + b y + c, d x + e y + f)), r1, r2 uniforms."""
    r, t = _polar(x, y)
    if vid == 0:
        return x, y
    if vid == 1:
        return np.sin(x), np.sin(y)
    if vid == 2:
        return x / (r * r + EPS), y / (r * r + EPS)
    if vid == 3:
        return x * np.sin(r * r) - y * np.cos(r * r), x * np.cos(r * r) + y * np.sin(r * r)
    if vid == 4:
        return (x - y) * (x + y) / (r + EPS), 2 * x * y / (r + EPS)
    if vid == 5:
        return t / PI, r - 1
    if vid == 6:
        return r * np.sin(t + r), r * np.cos(t - r)
    if vid == 7:
        return r * np.sin(t * r), -r * np.cos(t * r)
    if vid == 8:
        return t / PI * np.sin(PI * r), t / PI * np.cos(PI * r)
    if vid == 9:
        return (np.cos(t) + np.sin(r)) / (r + EPS), (np.sin(t) - np.cos(r)) / (r + EPS)
    if vid == 10:
        return np.sin(t) / (r + EPS), r * np.cos(t)
    if vid == 11:
        return np.sin(t) * np.cos(r), np.cos(t) * np.sin(r)
    if vid == 12:
        p0, p1 = np.sin(t + r) ** 3, np.cos(t - r) ** 3
        return r * (p0 + p1), r * (p0 - p1)
    if vid == 13:
        omega = np.where(r1 < 0.5, PI, 0.0)
        return np.sqrt(r) * np.cos(t / 2 + omega), np.sqrt(r) * np.sin(t / 2 + omega)
    if vid == 14:
        return np.where(x < 0, 2 * x, x), np.where(y < 0, y / 2, y)
    if vid == 15:
        return x + b * np.sin(y / (c * c + EPS)), y + e * np.sin(x / (f * f + EPS))
    if vid in (16, 27):  # fisheye is eyefish with the outputs swapped
        u, v = 2 / (r + 1) * x, 2 / (r + 1) * y
        return (v, u) if vid == 16 else (u, v)
    if vid == 17:
        return x + c * np.sin(np.tan(3 * y)), y + f * np.sin(np.tan(3 * x))
    if vid == 18:
        return np.exp(x - 1) * np.cos(PI * y), np.exp(x - 1) * np.sin(PI * y)
    if vid == 19:
        return r ** np.sin(t) * np.cos(t), r ** np.sin(t) * np.sin(t)
    if vid == 20:
        return np.cos(PI * x) * np.cosh(y), -np.sin(PI * x) * np.sinh(y)
    if vid == 21:
        c2 = c * c + EPS
        s = np.mod(r + c2, 2 * c2) - c2 + r * (1 - c2)
        return s * np.cos(t), s * np.sin(t)
    if vid == 22:
        w = PI * c * c + EPS
        a = np.where(np.mod(t + f, w) > w / 2, t - w / 2, t + w / 2)
        return r * np.cos(a), r * np.sin(a)
    if vid == 28:
        return 4 * x / (r * r + 4), 4 * y / (r * r + 4)
    if vid == 29:
        return np.sin(x), y
    if vid == 31:
        return r1 * x * np.cos(2 * PI * r2), r1 * y * np.sin(2 * PI * r2)
    if vid == 42:
        return np.sin(x) / np.cos(y), np.tan(y)
    if vid == 44:
        s = np.tan(r1 * PI) / (r * r + EPS)
        return s * np.cos(x), s * np.sin(y)
    if vid == 45:
        a = r1 * r
        return x * (np.cos(a) + np.sin(a)), x * (np.cos(a) - np.sin(a))
    if vid == 48:
        s = 1 / (np.abs(x * x - y * y) + EPS)
        return s * x, s * y
    raise ValueError(f"no reference for variation {vid}")


def reference_counts(coefs, view, size, chains, iters, burn, seed, vid=0):
    """Splatted counts [H, W] of one frame: coefs [N, 6], view (x_left, y_top, sx, sy), the
    maps followed by variation ``vid``; an escaping point restarts its chain."""
    rng = np.random.default_rng(seed)
    p = map_probabilities(coefs[None])[0]
    x = rng.uniform(-1, 1, chains)
    y = rng.uniform(-1, 1, chains)
    counts = np.zeros((size + 2, size + 2), np.int64)
    with np.errstate(all="ignore"):
        for step in range(iters):
            k = rng.choice(len(p), size=chains, p=p)
            c = coefs[k]
            x, y = c[:, 0] * x + c[:, 1] * y + c[:, 2], c[:, 3] * x + c[:, 4] * y + c[:, 5]
            x, y = variation(vid, x, y, c[:, 1], c[:, 2], c[:, 4], c[:, 5],
                             rng.random(chains), rng.random(chains))
            out = ~((np.abs(x) < 1e10) & (np.abs(y) < 1e10))
            x = np.where(out, rng.uniform(-1, 1, chains), x)
            y = np.where(out, rng.uniform(-1, 1, chains), y)
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

"""The compose operations of stills (``media=image``), after Anderson & Farrell's images:
more fractals on one image, a diamond-square textured background, hue colouring and blur.

Each is a sampler (the clip's keyed stream -> its record, or None) and an apply on the
layers of the compose stage (gen/compose.py holds their rows of ``OPS``); a video never
fires them, so video clips keep their draws and bytes. Arrays are float32 in [0, 1]:
[1, H, W] grey or [1, H, W, 3] RGB.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from .warp import rotate, scale, translate, warp_frames

PASTE = 4.0  # a fractal pixel this many times brighter than black hides the background


def _r(x: float) -> float:
    return round(float(x), 4)


def sample_objects(d: Any) -> dict | None:
    """Further fractals on the image, each another render of the donor block, at a scale of
    ``objects_scale`` of the image, rotated and perhaps flipped anywhere on it."""
    lo, hi = d.s.objects
    if not d.still or hi <= 1 or not d.donors:
        return None
    n = int(d.rng.integers(lo, hi + 1)) - 1
    if n < 1:
        return None
    items = []
    for _ in range(n):
        key, _frames = d.donors[int(d.rng.integers(len(d.donors)))]
        s = _r(d.rng.uniform(*d.s.objects_scale))
        half = s * d.size / 2
        items.append({"donor": key, "scale": s,
                      "cx": _r(d.rng.uniform(half, d.size - half)),
                      "cy": _r(d.rng.uniform(half, d.size - half)),
                      "rotation": _r(d.rng.uniform(-180.0, 180.0)),
                      "flip": bool(d.rng.random() < 0.5)})
    return {"items": items}


def apply_objects(layers: Any, p: dict) -> None:
    xp, size = layers.xp, layers.shape[1]
    c = size / 2
    for item in p["items"]:
        src = layers.donors[item["donor"]][:1].astype(xp.float32) / 255.0
        m = translate(item["cx"], item["cy"]) @ rotate(item["rotation"]) @ \
            (scale(-1.0, 1.0) if item["flip"] else np.eye(3)) @ \
            scale(item["scale"], item["scale"]) @ translate(-c, -c)
        moved = warp_frames(src, m[None], (size, size), xp)
        if moved.ndim != layers.fg.ndim:  # an RGB generator's donors on a grey image
            moved = moved.mean(axis=-1) if moved.ndim > layers.fg.ndim else moved[..., None]
        layers.fg = xp.maximum(layers.fg, moved)


def sample_texture(d: Any) -> dict | None:
    """A diamond-square texture of roughness ``texture_roughness`` behind the fractal,
    coloured with a random hue (saturation 0.3-1, value 0.5-1)."""
    if not d.still or d.rng.random() >= d.s.texture_p:
        return None
    return {"seed": int(d.rng.integers(2**31)), "roughness": _r(d.rng.uniform(
        *d.s.texture_roughness)), "hue": _r(d.rng.random()), "sat": _r(d.rng.uniform(0.3, 1)),
        "value": _r(d.rng.uniform(0.5, 1))}


def apply_texture(layers: Any, p: dict) -> None:
    """The texture replaces any background, and the fractal is pasted over it:
    fg + (1 - min(PASTE x fg, 1)) x texture (RGB: by the brightest channel of fg)."""
    xp, (t, size) = layers.xp, layers.shape
    tex = texture(p["seed"], size, p["roughness"])
    rgb = layers.fg.ndim == 4
    table = hue_table(p["hue"], 0.25, p["sat"], p["value"]) if rgb else \
        (p["value"] * np.linspace(0, 1, STEPS, dtype=np.float32))[:, None]
    if xp is np:  # one pass over the pixels
        fg = np.ascontiguousarray(layers.fg, dtype=np.float32)
        out = np.empty_like(fg)
        channels = 3 if rgb else 1
        _paste(fg.reshape(t, size * size, channels), tex.reshape(-1), table,
               out.reshape(t, size * size, channels))
    else:
        bg = _lookup_xp(xp.asarray(tex)[None], table, xp)
        bg = bg if rgb else bg[..., 0]
        fg = layers.fg
        cover = xp.minimum((fg.max(axis=-1, keepdims=True) if rgb else fg) * PASTE, 1.0)
        out = fg + (1.0 - cover) * bg
    layers.fg, layers.bg = out, None


def sample_hue(d: Any) -> dict | None:
    """Anderson & Farrell's colouring of a still: the grey level shifted by a random hue,
    with saturation U(0.3, 1) and value U(0.5, 1)."""
    if not d.still:
        return None
    return {"hue": _r(d.rng.random()), "sat": _r(d.rng.uniform(0.3, 1.0)),
            "value": _r(d.rng.uniform(0.5, 1.0))}


def apply_hue(layers: Any, p: dict) -> None:
    """Grey g -> HSV (hue + g, sat, value x g), by a table of STEPS grey levels; a background
    from other renders gets the opposite hue."""
    xp = layers.xp
    layers.fg = _lookup_xp(layers.fg, hue_table(p["hue"], 1.0, p["sat"], p["value"]), xp)
    if layers.bg is not None:
        b = layers.bg if layers.bg.ndim == 3 else layers.bg.mean(axis=-1)
        layers.bg = _lookup_xp(b, hue_table(p["hue"] + 0.5, 1.0, p["sat"], p["value"]), xp)


def quantize(x: Any, xp: Any = np) -> Any:
    """[...] float32 in [0, 1] -> [...] uint8: clip(rint(x x 255), 0, 255), in one pass on
    the host."""
    if xp is not np or x.dtype != np.float32:
        return xp.clip(xp.rint(x * 255.0), 0, 255).astype(xp.uint8)
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape, np.uint8)
    _quantize(x.reshape(-1), out.reshape(-1))
    return out


@nb.njit(cache=True, nogil=True)
def _quantize(x, out):  # pragma: no cover (numba)
    for i in range(x.shape[0]):
        r = np.rint(x[i] * np.float32(255.0))
        out[i] = 0 if r < 0 else 255 if r > 255 else r


def sample_blur(d: Any) -> dict | None:
    """A Gaussian blur of sigma ``blur_sigma`` pixels, with probability ``blur_p``."""
    if not d.still or d.rng.random() >= d.s.blur_p:
        return None
    return {"sigma": _r(d.rng.uniform(*d.s.blur_sigma))}


def blur_weights(sigma: float) -> np.ndarray:
    """[2r + 1] float32 Gaussian taps, r = ceil(3 sigma), summing to 1."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return (weights / weights.sum()).astype(np.float32)


def blur(frames: Any, sigma: float, xp: Any = np) -> Any:
    """Separable Gaussian blur of [T, H, W(, 3)] float32 over H and W (edges reflected)."""
    weights = blur_weights(sigma)
    radius = (len(weights) - 1) // 2
    if xp is np and min(frames.shape[1:3]) > radius:
        x = np.ascontiguousarray(frames, np.float32)
        t, h, w = x.shape[:3]
        channels = x.shape[3] if x.ndim == 4 else 1
        out = np.empty_like(x)
        n = w * channels
        padded = np.empty(n + 2 * radius * channels, np.float32)
        rows = np.empty((h + 2 * radius, n), np.float32)
        if len(weights) in (5, 7):
            _blur_short(x.reshape(t, h, n), weights, channels, padded, rows,
                        out.reshape(t, h, n))
        else:
            _blur(x.reshape(t, h, n), weights, channels, padded, rows,
                  np.empty(n, np.float32), out.reshape(t, h, n))
        return out
    for axis in (2, 1):  # W then H, as the kernel: the same sums in the same order
        pad = [(0, 0)] * frames.ndim
        pad[axis] = (radius, radius)
        padded = xp.pad(frames, pad, mode="reflect")
        n = frames.shape[axis]
        out = xp.zeros_like(frames)
        for k, w in enumerate(weights):  # a few taps, each a whole-array step
            out += float(w) * xp.take(padded, xp.arange(k, k + n), axis=axis)
        frames = out
    return frames


STEPS = 1024  # grey levels of a colour table


def hue_table(hue: float, span: float, sat: float, value: float) -> np.ndarray:
    """[STEPS, 3] float32: grey level g in [0, 1] -> RGB of HSV (hue + span x g, sat,
    value x g)."""
    out = np.empty((STEPS, 3), np.float32)
    _table(float(hue), float(span), float(sat), float(value), out)
    return out


def _lookup_xp(g: Any, table: np.ndarray, xp: Any) -> Any:
    """Grey [...] float32 in [0, 1] -> table[round(g x (STEPS - 1))], [..., C] float32."""
    if xp is np:
        g = np.ascontiguousarray(g, np.float32)
        out = np.empty(g.shape + (table.shape[1],), np.float32)
        _lookup(g.reshape(-1), table, out.reshape(-1, table.shape[1]))
        return out
    # the kernel's rounding, in float64 as there: floor(g x (STEPS - 1) + 0.5)
    idx = xp.clip(xp.floor(g.astype(xp.float64) * (STEPS - 1) + 0.5), 0, STEPS - 1)
    idx = idx.astype(xp.int32)
    return xp.asarray(table)[idx]


@nb.njit(cache=True, nogil=True)
def _table(hue, span, sat, value, out):  # pragma: no cover (numba)
    for i in range(out.shape[0]):
        g = i / (out.shape[0] - 1)
        out[i, 0], out[i, 1], out[i, 2] = _hsv(hue + span * g, sat, value * g)


@nb.njit(cache=True, inline="always")
def _hsv(h, s, v):  # pragma: no cover (numba)
    # HSV -> RGB of one value, hue taken mod 1 (colorsys's formula)
    h = (h % 1.0) * 6.0
    i = np.floor(h)
    f = h - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    k = int(i) % 6
    if k == 0:
        return v, t, p
    if k == 1:
        return q, v, p
    if k == 2:
        return p, v, t
    if k == 3:
        return p, q, v
    if k == 4:
        return t, p, v
    return v, p, q


@nb.njit(cache=True, inline="always")
def _level(g):  # pragma: no cover (numba)
    i = int(np.floor(np.float64(g) * (STEPS - 1) + 0.5))
    return 0 if i < 0 else STEPS - 1 if i > STEPS - 1 else i


@nb.njit(cache=True, nogil=True)
def _lookup(g, table, out):  # pragma: no cover (numba)
    levels = np.empty(g.shape[0], np.int64)  # (each step its own loop: they vectorize)
    for i in range(g.shape[0]):
        levels[i] = _level(g[i])
    if table.shape[1] == 3:
        for i in range(g.shape[0]):
            k = levels[i]
            out[i, 0], out[i, 1], out[i, 2] = table[k, 0], table[k, 1], table[k, 2]
    else:
        for i in range(g.shape[0]):
            for c in range(table.shape[1]):
                out[i, c] = table[levels[i], c]


@nb.njit(cache=True, nogil=True)
def _paste(fg, tex, table, out):  # pragma: no cover (numba)
    # fg, out [T, P, C] (C 1 or 3); tex [P]; table [STEPS, C]: fg + (1 - cover) x table[tex]
    levels = np.empty(tex.shape[0], np.int64)
    for i in range(tex.shape[0]):
        levels[i] = _level(tex[i])
    one, paste = np.float32(1.0), np.float32(PASTE)
    for t in range(fg.shape[0]):
        if fg.shape[2] == 3:  # (channels the compiler knows: the loop vectorizes)
            for i in range(fg.shape[1]):
                r, g, b = fg[t, i, 0], fg[t, i, 1], fg[t, i, 2]
                keep = one - min(max(max(r, g), b) * paste, one)
                k = levels[i]
                out[t, i, 0] = r + keep * table[k, 0]
                out[t, i, 1] = g + keep * table[k, 1]
                out[t, i, 2] = b + keep * table[k, 2]
        else:
            for i in range(fg.shape[1]):
                v = fg[t, i, 0]
                out[t, i, 0] = v + (one - min(v * paste, one)) * table[levels[i], 0]


@nb.njit(cache=True, inline="always")
def _taps(src, w, acc, n, stride):  # pragma: no cover (numba)
    # acc[i] = sum_k w[k] src[i + k stride]: offsets the compiler sees are >= 0 (stride a
    # constant at each call), so it vectorizes the sums
    for i in range(n):
        acc[i] = w[0] * src[i]
    for k in range(1, w.shape[0]):
        wk, shift = w[k], k * stride
        for i in range(n):
            acc[i] += wk * src[i + shift]


@nb.njit(cache=True, nogil=True)
def _pad_row(src, r, channels, width, padded):  # pragma: no cover (numba)
    # a function of its own: its index arithmetic would keep the sums from vectorizing
    padded[r * channels: r * channels + src.shape[0]] = src
    for px in range(r):  # reflected: -1 - px -> px + 1, width + px -> width - 2 - px
        for c in range(channels):
            padded[(r - 1 - px) * channels + c] = src[(px + 1) * channels + c]
            padded[(r + width + px) * channels + c] = src[(width - 2 - px) * channels + c]


@nb.njit(cache=True, nogil=True)
def _pad_rows(rows, r, h):  # pragma: no cover (numba)
    for y in range(r):
        rows[r - 1 - y] = rows[r + 1 + y]
        rows[r + h + y] = rows[r + h - 2 - y]


@nb.njit(cache=True, inline="always")
def _sum5(w, a, b, c, d, e):  # pragma: no cover (numba)
    return w[0] * a + w[1] * b + w[2] * c + w[3] * d + w[4] * e


@nb.njit(cache=True, inline="always")
def _sum7(w, a, b, c, d, e, f, g):  # pragma: no cover (numba)
    return w[0] * a + w[1] * b + w[2] * c + w[3] * d + w[4] * e + w[5] * f + w[6] * g


@nb.njit(cache=True, inline="always")
def _row_taps(src, w, dst, n, s):  # pragma: no cover (numba)
    # dst[i] = sum_k w[k] src[i + k s] for 5 or 7 taps in one pass, s a constant at each call
    # (the same products added in the same order as _taps: the same bits)
    if w.shape[0] == 5:
        for i in range(n):
            dst[i] = _sum5(w, src[i], src[i + s], src[i + 2 * s], src[i + 3 * s],
                           src[i + 4 * s])
    else:
        for i in range(n):
            dst[i] = _sum7(w, src[i], src[i + s], src[i + 2 * s], src[i + 3 * s],
                           src[i + 4 * s], src[i + 5 * s], src[i + 6 * s])


@nb.njit(cache=True, nogil=True)
def _blur(x, w, channels, padded, rows, acc, out):  # pragma: no cover (numba)
    # x, out [T, H, W x C] (C 1 or 3): rows along W (taps C apart), then along H; edges
    # reflected, from padded copies: padded [W x C + 2 r C], rows [H + 2 r, W x C] and acc
    # [W x C] float32 scratch (passed in: the compiler then vectorizes reads of them)
    t_, h_, n = x.shape
    r = (w.shape[0] - 1) // 2
    width = n // channels
    for t in range(t_):
        for y in range(h_):
            _pad_row(x[t, y], r, channels, width, padded)
            if channels == 3:
                _taps(padded, w, acc, n, 3)
            else:
                _taps(padded, w, acc, n, 1)
            rows[y + r] = acc
        _pad_rows(rows, r, h_)
        for y in range(h_):
            dst = out[t, y]
            first = rows[y]
            for i in range(n):
                dst[i] = w[0] * first[i]
            for k in range(1, w.shape[0]):
                wk, row = w[k], rows[y + k]
                for i in range(n):
                    dst[i] += wk * row[i]


@nb.njit(cache=True, inline="always")
def _short_rows(x, w, channels, padded, rows):  # pragma: no cover (numba)
    # one frame x [H, W x C] along W into rows[r:H + r], then the rows' reflected edges
    h_, n = x.shape
    r = (w.shape[0] - 1) // 2
    for y in range(h_):
        _pad_row(x[y], r, channels, n // channels, padded)
        if channels == 3:
            _row_taps(padded, w, rows[y + r], n, 3)
        else:
            _row_taps(padded, w, rows[y + r], n, 1)
    _pad_rows(rows, r, h_)


@nb.njit(cache=True, nogil=True)
def _blur_short(x, w, channels, padded, rows, out):  # pragma: no cover (numba)
    # _blur for 5 or 7 taps (sigma 1/3 to 1): each output summed in one pass, the same
    # products added in the same order (the same bits); a kernel of its own, as a branch
    # to these loops keeps the compiler from vectorizing _blur's
    for t in range(x.shape[0]):
        _short_rows(x[t], w, channels, padded, rows)
        for y in range(x.shape[1]):
            dst = out[t, y]
            a, b, c, d, e = rows[y], rows[y + 1], rows[y + 2], rows[y + 3], rows[y + 4]
            if w.shape[0] == 5:
                for i in range(x.shape[2]):
                    dst[i] = _sum5(w, a[i], b[i], c[i], d[i], e[i])
            else:
                f, g = rows[y + 5], rows[y + 6]
                for i in range(x.shape[2]):
                    dst[i] = _sum7(w, a[i], b[i], c[i], d[i], e[i], f[i], g[i])


def texture(seed: int, size: int, roughness: float) -> np.ndarray:
    """A diamond-square (plasma) texture: [size, size] float32 in [0, 1], a pure function of
    its arguments. ``roughness`` in (0, 1]: how much each finer level's noise keeps."""
    n = 1
    while n + 1 < size:
        n *= 2
    grid = np.zeros((n + 1, n + 1), np.float32)
    out = np.empty((size, size), np.float32)
    _diamond_square(grid, np.uint64(seed), np.float32(roughness), out)
    return out


@nb.njit(cache=True, inline="always")
def _noise(seed, i):  # pragma: no cover (numba)
    """U(-0.5, 0.5) float32 of grid point i (row-major): splitmix64 of (seed, i + 1), so the
    texture is exact integer arithmetic on any machine."""
    z = seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64(i + 1)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float32(z >> np.uint64(40)) * np.float32(1.0 / (1 << 24)) - np.float32(0.5)


@nb.njit(cache=True, inline="always")
def _edge(g, y, x, half, shake):  # pragma: no cover (numba)
    # a square step's point at the grid's edge: the mean of the neighbours it has
    n = g.shape[0] - 1
    total, count = np.float32(0.0), 0
    if y >= half:
        total += g[y - half, x]
        count += 1
    if y + half <= n:
        total += g[y + half, x]
        count += 1
    if x >= half:
        total += g[y, x - half]
        count += 1
    if x + half <= n:
        total += g[y, x + half]
        count += 1
    g[y, x] = total / np.float32(count) + shake


@nb.njit(cache=True, inline="always")
def _diamond_row(up, down, row, noise, amp, first, stop, step, half):  # pragma: no cover
    # a diamond step's points of one row: the mean of the four corners, plus noise
    for x in range(first, stop, step):
        row[x] = np.float32(0.25) * (up[x - half] + up[x + half] + down[x - half] +
                                     down[x + half]) + amp * noise[x]


@nb.njit(cache=True, inline="always")
def _square_row(up, down, row, noise, amp, first, stop, step, half):  # pragma: no cover
    # a square step's inner points of one row: the mean of the four neighbours, plus noise
    for x in range(first, stop, step):
        total = up[x] + down[x] + row[x - half] + row[x + half]
        row[x] = total / np.float32(4.0) + amp * noise[x]


@nb.njit(cache=True, nogil=True)
def _diamond_square(g, seed, roughness, out):  # pragma: no cover (numba)
    # g [n + 1, n + 1] zeros -> the texture; out [size, size]: its corner, scaled to [0, 1].
    # Every point's noise first, in one loop that vectorizes; then each level's diamond and
    # square steps, the square's inner points without the edge tests.
    n = g.shape[0] - 1
    m = n + 1
    noise = np.empty(m * m, np.float32)
    for i in range(m * m):
        noise[i] = _noise(seed, i)
    for y in (0, n):
        for x in (0, n):
            g[y, x] = noise[y * m + x]
    size = out.shape[0]
    step, amp = n, np.float32(1.0)
    while step > 1:
        half = step // 2
        amp *= roughness
        # only the points the output's corner reads: the finest level's up to size - 1; a
        # level's square points read its diamond points half further and coarser points twice
        # half further, so level ``half`` needs rows and columns up to size - 3 + 2 half
        lim = min(n, size - 3 + 2 * half)
        dlim = min(n - 1, lim + half)
        for y in range(half, dlim + 1, step):  # diamond: centres of squares
            row_noise = noise[y * m: (y + 1) * m]
            if half == 1:  # the finest level, most of the points: a stride the compiler sees
                _diamond_row(g[y - 1], g[y + 1], g[y], row_noise, amp, 1, dlim + 1, 2, 1)
            else:
                _diamond_row(g[y - half], g[y + half], g[y], row_noise, amp, half, dlim + 1,
                             step, half)
        for y in range(0, lim + 1, half):  # square: midpoints of edges
            x0 = (y + half) % step
            if half <= y <= n - half:  # an inner row: only its ends lack a neighbour
                first = x0 if x0 >= half else x0 + step
                row_noise = noise[y * m: (y + 1) * m]
                stop = min(n - half, lim) + 1
                if half == 1:
                    _square_row(g[y - 1], g[y + 1], g[y], row_noise, amp, first, stop, 2, 1)
                else:
                    _square_row(g[y - half], g[y + half], g[y], row_noise, amp, first, stop,
                                step, half)
                if x0 == 0:
                    _edge(g, y, 0, half, amp * noise[y * m])
                if (n - x0) % step == 0 and n <= lim:
                    _edge(g, y, n, half, amp * noise[y * m + n])
            else:
                for x in range(x0, lim + 1, step):
                    _edge(g, y, x, half, amp * noise[y * m + x])
        step = half
    lo, hi = g[0, 0], g[0, 0]
    for y in range(size):
        for x in range(size):
            lo, hi = min(lo, g[y, x]), max(hi, g[y, x])
    scale = np.float32(1.0) / (hi - lo) if hi > lo else np.float32(1.0)
    for y in range(size):
        for x in range(size):
            out[y, x] = (g[y, x] - lo) * scale

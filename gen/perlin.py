"""The perlin generator: single-octave 3-D gradient noise over (x, y, t), grey (the paper's
Perlin-noise baseline; docs/generators.md).

A class is a pair of spatial frequencies (lattice cells across the canvas, from
``perlin_frequencies``: by default the divisors of the reference's 240 px canvas, 256 pairs)
with the time frequency ``perlin_time_frequency``; an instance has fresh random gradients and
its own length. Any canvas size: the lattice is sampled at pixel positions, so no frequency has
to divide the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numba as nb
import numpy as np

from .generator import HEAD, SCREEN, SIZE, TAIL, Drawn, Made
from .keys import in_range, key
from .rng import stream

DIVISORS_240 = ("1", "2", "3", "5", "6", "8", "10", "12", "16", "20", "30", "40", "60", "80",
                "120", "240")

KEYS = (
    key("perlin_frequencies", DIVISORS_240, "spatial frequencies (lattice cells across the "
        "canvas) a class's x and y take; a class is one (x, y) pair", "perlin",
        ((lambda v: len(v) > 0 and all(f.isdigit() and 1 <= int(f) <= 4096 for f in v)),
         "comma-separated integers in 1..4096")),
    key("perlin_time_frequency", 1, "lattice cells along the clip's time axis", "perlin",
        in_range(1, 1000)),
)


@dataclass(frozen=True)
class Noise:
    """A clip's noise: frequencies (x, y, t) and gradients [ft + 1, fy + 1, fx + 1, 3] float32
    (unit vectors at the lattice points)."""

    freq: tuple[int, int, int]
    frames: int
    gradients: np.ndarray


def frequencies(cfg: Any) -> list[int]:
    return [int(f) for f in cfg.perlin_frequencies]


@lru_cache(maxsize=64)
def _pairs(cfg: Any) -> list[tuple[int, int]]:
    """Every (x, y) frequency pair, in the data set's own shuffled order (class c is entry c)."""
    f = frequencies(cfg)
    pairs = [(x, y) for x in f for y in f]
    order = stream(cfg.seed, "class", 0).permutation(len(pairs))
    return [pairs[i] for i in order]


def _gradients(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """[*shape, 3] float32 unit vectors, uniform on the sphere (by two angles, as the
    reference)."""
    theta = 2 * np.pi * rng.random(shape)
    phi = 2 * np.pi * rng.random(shape)
    return np.stack((np.sin(phi) * np.cos(theta), np.sin(phi) * np.sin(theta), np.cos(phi)),
                    axis=-1).astype(np.float32)


def _noise(cfg: Any, rng: np.random.Generator, freq: tuple[int, int]) -> Noise:
    frames = int(rng.integers(cfg.frame_range[0], cfg.frame_range[1] + 1))
    fx, fy = freq
    ft = cfg.perlin_time_frequency
    return Noise((fx, fy, ft), frames, _gradients(rng, (ft + 1, fy + 1, fx + 1)))


@nb.njit(cache=True, inline="always")
def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


@nb.njit(parallel=True, cache=True, nogil=True, fastmath=False)
def perlin_frames(grad, fx, fy, ft, out):
    """Gradient noise into ``out`` [T, H, W] uint8: pixel (x, y) of frame t sits at lattice
    position (x fx / W, y fy / H, t ft / T); the noise n in about [-0.87, 0.87] is stored as
    round(255 (n + 1) / 2). grad [ft + 1, fy + 1, fx + 1, 3] float32.

    Along a row, y and t are fixed: the four (y, t) corners' weights and their part of each
    dot product fold into two numbers per lattice column (b: the x slope, c: the rest), so a
    pixel costs two multiply-adds a side and one blend."""
    t_n, h, w = out.shape
    ixs = np.empty(w, np.int64)  # the x lattice cell, offset and fade of each column
    dxs = np.empty(w)
    wxs = np.empty(w)
    for x in range(w):
        xx = x * fx / w
        ixs[x] = min(int(xx), fx - 1)
        dxs[x] = xx - ixs[x]
        wxs[x] = _fade(dxs[x])
    for row in nb.prange(t_n * h):
        t, y = row // h, row % h
        z = t * ft / t_n
        iz = min(int(z), ft - 1)
        dz = z - iz
        yy = y * fy / h
        iy = min(int(yy), fy - 1)
        dy = yy - iy
        wy, wz = _fade(dy), _fade(dz)
        b = np.zeros(fx + 1)
        c = np.zeros(fx + 1)
        for oy in range(2):
            for oz in range(2):
                weight = (wy if oy else 1.0 - wy) * (wz if oz else 1.0 - wz)
                for i in range(fx + 1):
                    g = grad[iz + oz, iy + oy, i]
                    b[i] += weight * g[0]
                    c[i] += weight * ((dy - oy) * g[1] + (dz - oz) * g[2])
        for x in range(w):
            ix, dx, wx = ixs[x], dxs[x], wxs[x]
            left = dx * b[ix] + c[ix]
            right = (dx - 1.0) * b[ix + 1] + c[ix + 1]
            v = ((1.0 - wx) * left + wx * right + 1.0) * 0.5 * 255.0
            out[t, y, x] = np.uint8(min(255.0, max(0.0, v + 0.5)))


class Perlin:
    """Perlin noise clips (grey)."""

    name = "perlin"
    title = "Perlin noise video data set"
    about = ("Every clip is single-octave 3-D gradient (Perlin) noise over (x, y, t); a class "
             "is a pair of spatial frequencies")
    keys = KEYS
    channels = 1
    gpu = False
    screened = False
    tally = "frequency"
    columns = (*HEAD, ("frequency", "string"), ("freq_x", "int16"), ("freq_y", "int16"),
               ("freq_t", "int16"), *SIZE, *SCREEN, *TAIL)
    class_columns = (("class_id", "int32"), ("attempt", "int16"), ("defect", "string"),
                     ("frequency", "string"), ("freq_x", "int16"), ("freq_y", "int16"),
                     ("freq_t", "int16"))

    def check(self, cfg: Any) -> str | None:
        n = len(frequencies(cfg)) ** 2
        if cfg.labels and cfg.classes > n:
            return (f"classes={cfg.classes}: perlin has {n} classes (pairs of "
                    f"perlin_frequencies); set classes to at most {n}, or give more "
                    "frequencies")
        return None

    def class_for(self, cfg: Any, class_id: int) -> Drawn:
        return Drawn(_pairs(cfg)[class_id])

    def class_row(self, cfg: Any, class_id: int) -> dict[str, Any]:
        fx, fy = _pairs(cfg)[class_id]
        ft = cfg.perlin_time_frequency
        return {"class_id": class_id, "attempt": 0, "defect": None,
                "frequency": f"{fx}x{fy}x{ft}", "freq_x": fx, "freq_y": fy, "freq_t": ft}

    def draw(self, cfg: Any, specs: list, renderer: Any = None) -> list[Drawn]:
        out = []
        for s in specs:
            if s.class_id is None:  # a random pair, and fresh gradients
                rng = stream(cfg.seed, "unlabeled", s.index)
                f = frequencies(cfg)
                pair = (f[int(rng.integers(len(f)))], f[int(rng.integers(len(f)))])
            else:
                rng = stream(cfg.seed, "instance", s.index)
                pair = _pairs(cfg)[s.class_id]
            out.append(Drawn(_noise(cfg, rng, pair)))
        return out

    def render(self, cfg: Any, specs: list, drawn: list[Drawn], renderer: Any = None
               ) -> list[Made]:
        made = []
        for d in drawn:
            noise: Noise = d.params
            fx, fy, ft = noise.freq
            frames = np.empty((noise.frames, cfg.resolution, cfg.resolution), np.uint8)
            perlin_frames(noise.gradients, fx, fy, ft, frames)
            made.append(Made(frames, {"frequency": f"{fx}x{fy}x{ft}", "freq_x": fx,
                                      "freq_y": fy, "freq_t": ft}))
        return made

    def seconds_per_frame(self, cfg: Any) -> float:
        return 2e-8 * cfg.resolution**2


GENERATOR = Perlin()

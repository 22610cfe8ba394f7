"""Flame variations (Draves & Reckase, "The Fractal Flame Algorithm", 2008), weight 1.

A variation V is applied after a map's affine part: ``V(A x + b)``. Ids are the flame paper's
numbers, so configs and metadata name them unambiguously. ``theta`` is the paper's
``arctan(x / y)``, ``phi`` its ``arctan(y / x)``; ``c`` and ``f`` are the map's translation terms
and ``b``, ``e`` its off-diagonal/diagonal terms, in the paper's ``(a x + b y + c, d x + e y + f)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
from numba import literal_unroll
from numba.core.errors import NumbaExperimentalFeatureWarning

from .portable import (
    HALF,
    ONE,
    PI,
    TWO,
    ZERO,
    atan2_32,
    cos32,
    exp32,
    pow32,
    pymod32,
    sin32,
    tan32,
)

DEFAULT_NONLINEAR = ("horseshoe", "bent", "fisheye", "popcorn", "cosine", "eyefish", "cylinder")

_EPS = np.float32(1e-12)
_THREE = np.float32(3.0)
_FOUR = np.float32(4.0)


def variation_id(name: str) -> int:
    """Flame-paper id of a variation name; raises ValueError naming the known ones."""
    try:
        return VARIATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown variation {name!r}; known: {', '.join(VARIATIONS)}"
        ) from None


# Each variation is its own small function of one signature, (x, y, b, c, e, f, r1, r2) ->
# (x', y') float32, named _NAME for VARIATIONS[NAME]: b, c, e, f are the map's coefficients
# (the flame paper's (a x + b y + c, d x + e y + f)), r1, r2 uniforms in [0, 1). Every constant
# is a float32 (gen/portable.py says why). Inlined into one loop per variation
# (apply_variations), where the compiler vectorizes it.
_V = nb.njit(cache=True, inline="always", error_model="numpy")


@_V
def _linear(x, y, b, c, e, f, r1, r2):
    return x, y


@_V
def _sinusoidal(x, y, b, c, e, f, r1, r2):
    return sin32(x), sin32(y)


@_V
def _spherical(x, y, b, c, e, f, r1, r2):
    s = ONE / (x * x + y * y + _EPS)
    return x * s, y * s


@_V
def _swirl(x, y, b, c, e, f, r1, r2):
    rr = x * x + y * y
    sr, cr = sin32(rr), cos32(rr)
    return x * sr - y * cr, x * cr + y * sr


@_V
def _horseshoe(x, y, b, c, e, f, r1, r2):
    s = ONE / (math.sqrt(x * x + y * y) + _EPS)
    return s * (x - y) * (x + y), s * TWO * x * y


@_V
def _polar(x, y, b, c, e, f, r1, r2):
    return atan2_32(x, y) / PI, math.sqrt(x * x + y * y) - ONE


@_V
def _handkerchief(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    return r * sin32(theta + r), r * cos32(theta - r)


@_V
def _heart(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    return r * sin32(theta * r), -r * cos32(theta * r)


@_V
def _disc(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    s = atan2_32(x, y) / PI
    return s * sin32(PI * r), s * cos32(PI * r)


@_V
def _spiral(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    s = ONE / (r + _EPS)
    return s * (cos32(theta) + sin32(r)), s * (sin32(theta) - cos32(r))


@_V
def _hyperbolic(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    return sin32(theta) / (r + _EPS), r * cos32(theta)


@_V
def _diamond(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    return sin32(theta) * cos32(r), cos32(theta) * sin32(r)


@_V
def _ex(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    p0 = sin32(theta + r)
    p1 = cos32(theta - r)
    p03, p13 = p0 * p0 * p0, p1 * p1 * p1
    return r * (p03 + p13), r * (p03 - p13)


@_V
def _julia(x, y, b, c, e, f, r1, r2):
    theta = atan2_32(x, y)
    omega = PI if r1 < HALF else ZERO
    s = math.sqrt(math.sqrt(x * x + y * y))
    return s * cos32(theta / TWO + omega), s * sin32(theta / TWO + omega)


@_V
def _bent(x, y, b, c, e, f, r1, r2):
    return (TWO * x if x < ZERO else x), (y / TWO if y < ZERO else y)


@_V
def _waves(x, y, b, c, e, f, r1, r2):
    return x + b * sin32(y / (c * c + _EPS)), y + e * sin32(x / (f * f + _EPS))


@_V
def _popcorn(x, y, b, c, e, f, r1, r2):
    return x + c * sin32(tan32(_THREE * y)), y + f * sin32(tan32(_THREE * x))


@_V
def _exponential(x, y, b, c, e, f, r1, r2):
    s = exp32(x - ONE)
    return s * cos32(PI * y), s * sin32(PI * y)


@_V
def _power(x, y, b, c, e, f, r1, r2):
    theta = atan2_32(x, y)
    s = pow32(math.sqrt(x * x + y * y), sin32(theta))
    return s * cos32(theta), s * sin32(theta)


@_V
def _cosine(x, y, b, c, e, f, r1, r2):
    ey = exp32(y)  # cosh and sinh from one exp
    iy = ONE / ey
    return cos32(PI * x) * HALF * (ey + iy), -sin32(PI * x) * HALF * (ey - iy)


@_V
def _rings(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    c2 = c * c + _EPS
    s = pymod32(r + c2, TWO * c2) - c2 + r * (ONE - c2)
    return s * cos32(theta), s * sin32(theta)


@_V
def _fan(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = atan2_32(x, y)
    t = PI * c * c + _EPS
    a = theta - t / TWO if pymod32(theta + f, t) > t / TWO else theta + t / TWO
    return r * cos32(a), r * sin32(a)


@_V
def _eyefish(x, y, b, c, e, f, r1, r2):
    s = TWO / (math.sqrt(x * x + y * y) + ONE)
    return s * x, s * y


@_V
def _fisheye(x, y, b, c, e, f, r1, r2):
    u, v = _eyefish(x, y, b, c, e, f, r1, r2)  # the flame paper's fisheye swaps eyefish's
    return v, u


@_V
def _bubble(x, y, b, c, e, f, r1, r2):
    s = _FOUR / (x * x + y * y + _FOUR)
    return s * x, s * y


@_V
def _cylinder(x, y, b, c, e, f, r1, r2):
    return sin32(x), y


@_V
def _noise(x, y, b, c, e, f, r1, r2):
    a = TWO * PI * r2
    return r1 * x * cos32(a), r1 * y * sin32(a)


@_V
def _tangent(x, y, b, c, e, f, r1, r2):
    return sin32(x) / cos32(y), tan32(y)


@_V
def _rays(x, y, b, c, e, f, r1, r2):
    s = tan32(r1 * PI) / (x * x + y * y + _EPS)
    return s * cos32(x), s * sin32(y)


@_V
def _blade(x, y, b, c, e, f, r1, r2):
    a = r1 * math.sqrt(x * x + y * y)
    ca, sa = cos32(a), sin32(a)
    return x * (ca + sa), x * (ca - sa)


@_V
def _cross(x, y, b, c, e, f, r1, r2):
    s = ONE / (abs(x * x - y * y) + _EPS)
    return s * x, s * y


@dataclass(frozen=True)
class Variation:
    """A row of the variation table: the flame paper's name and id, the point function, and
    whether it draws the per-point uniforms r1, r2 (``randoms``) or reads the map's
    coefficients b, c, e, f (``coefficients``); chaos.cu's twin lists are tested against it."""

    name: str
    vid: int
    point: Any
    randoms: bool = False
    coefficients: bool = False


# The table: a new variation is its point function above and a row here (and its twin in
# chaos.cu). VARIATIONS, the chaos game's dispatch and its two flags all derive from it.
TABLE = (
    Variation("linear", 0, _linear), Variation("sinusoidal", 1, _sinusoidal),
    Variation("spherical", 2, _spherical), Variation("swirl", 3, _swirl),
    Variation("horseshoe", 4, _horseshoe), Variation("polar", 5, _polar),
    Variation("handkerchief", 6, _handkerchief), Variation("heart", 7, _heart),
    Variation("disc", 8, _disc), Variation("spiral", 9, _spiral),
    Variation("hyperbolic", 10, _hyperbolic), Variation("diamond", 11, _diamond),
    Variation("ex", 12, _ex), Variation("julia", 13, _julia, randoms=True),
    Variation("bent", 14, _bent), Variation("waves", 15, _waves, coefficients=True),
    Variation("fisheye", 16, _fisheye), Variation("popcorn", 17, _popcorn, coefficients=True),
    Variation("exponential", 18, _exponential), Variation("power", 19, _power),
    Variation("cosine", 20, _cosine), Variation("rings", 21, _rings, coefficients=True),
    Variation("fan", 22, _fan, coefficients=True), Variation("eyefish", 27, _eyefish),
    Variation("bubble", 28, _bubble), Variation("cylinder", 29, _cylinder),
    Variation("noise", 31, _noise, randoms=True), Variation("tangent", 42, _tangent),
    Variation("rays", 44, _rays, randoms=True), Variation("blade", 45, _blade, randoms=True),
    Variation("cross", 48, _cross),
)
VARIATIONS: dict[str, int] = {v.name: v.vid for v in TABLE}
NAMES: dict[int, str] = {v.vid: v.name for v in TABLE}
_RANDOMS = np.array([v.vid for v in TABLE if v.randoms], np.int64)


@nb.njit(cache=True, inline="always")
def draws_randoms(vid):
    """True for the variations that use the per-point uniforms r1, r2; the chaos game draws
    them only then."""
    for r in _RANDOMS:
        if vid == r:
            return True
    return False


def _loop(point):
    """One loop over the points around ``point``, which the compiler inlines and vectorizes."""

    @nb.njit(cache=True, error_model="numpy")
    def each(xs, ys, b, c, e, f, r1, r2, n):
        for i in range(n):
            xs[i], ys[i] = point(xs[i], ys[i], b[i], c[i], e[i], f[i], r1[i], r2[i])

    return each


# (id, loop) pairs: numba types a tuple of functions as "first-class functions", which it
# marks experimental with a warning at every compile; the dispatch below is plain unrolled code
warnings.filterwarnings("ignore", "First-class function type feature is experimental",
                        NumbaExperimentalFeatureWarning)
_LOOPS = tuple((v.vid, _loop(v.point)) for v in TABLE if v.vid)


@nb.njit(cache=True, error_model="numpy")
def apply_variations(vid, xs, ys, b, c, e, f, r1, r2, n):
    """Variation ``vid`` on the first n points of xs, ys [>= n] float32, in place, with per-point
    b, c, e, f (the map's coefficients) and r1, r2 (uniforms), each [>= n] float32. Linear and
    unknown ids leave the points as they are.

    A loop per variation (the table's, unrolled here), not a branch per point, lets the
    compiler vectorize the polynomials. The values are a point-at-a-time loop's (and
    chaos.cu's), bit for bit: the same IEEE operations in the same order (numba fuses no
    multiply-adds), several points at a time.
    """
    for entry in literal_unroll(_LOOPS):
        if vid == entry[0]:
            entry[1](xs, ys, b, c, e, f, r1, r2, n)


def apply_variation(vid, x, y, b, c, e, f, r1, r2):
    """V(x, y) for flame variation ``vid``, one point, in float32: apply_variations on arrays
    of one (for tests and one-off use; the chaos game calls apply_variations)."""
    xs, ys, *per_point = (np.array([v], np.float32) for v in (x, y, b, c, e, f, r1, r2))
    apply_variations(vid, xs, ys, *per_point, 1)
    return float(xs[0]), float(ys[0])

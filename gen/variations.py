"""Flame variations (Draves & Reckase, "The Fractal Flame Algorithm", 2008), weight 1.

A variation V is applied after a map's affine part: ``V(A x + b)``. Ids are the flame paper's
numbers, so configs and metadata name them unambiguously. ``theta`` is the paper's
``arctan(x / y)``, ``phi`` its ``arctan(y / x)``; ``c`` and ``f`` are the map's translation terms
and ``b``, ``e`` its off-diagonal/diagonal terms, in the paper's ``(a x + b y + c, d x + e y + f)``.
"""

from __future__ import annotations

import math

import numba as nb

VARIATIONS: dict[str, int] = {
    "linear": 0, "sinusoidal": 1, "spherical": 2, "swirl": 3, "horseshoe": 4, "polar": 5,
    "handkerchief": 6, "heart": 7, "disc": 8, "spiral": 9, "hyperbolic": 10, "diamond": 11,
    "ex": 12, "julia": 13, "bent": 14, "waves": 15, "fisheye": 16, "popcorn": 17,
    "exponential": 18, "power": 19, "cosine": 20, "rings": 21, "fan": 22, "eyefish": 27,
    "bubble": 28, "cylinder": 29, "noise": 31, "tangent": 42, "rays": 44, "blade": 45,
    "cross": 48,
}  # fmt: skip
NAMES: dict[int, str] = {v: k for k, v in VARIATIONS.items()}
DEFAULT_NONLINEAR = ("horseshoe", "bent", "fisheye", "popcorn", "cosine", "eyefish", "cylinder")

_EPS = 1e-12
_PI = math.pi


def variation_id(name: str) -> int:
    """Flame-paper id of a variation name; raises ValueError naming the known ones."""
    try:
        return VARIATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown variation {name!r}; known: {', '.join(VARIATIONS)}"
        ) from None


@nb.njit(cache=True, inline="always")
def draws_randoms(vid):
    """True for the variations that use the per-point uniforms r1, r2 (julia, noise, rays,
    blade); the chaos game draws them only then."""
    return vid == 13 or vid == 31 or vid == 44 or vid == 45


@nb.njit(cache=True, inline="always", error_model="numpy")
def apply_variation(vid, x, y, b, c, e, f, r1, r2):  # noqa: C901 - one branch per variation
    """V(x, y) for flame variation ``vid``; r1, r2 are uniforms in [0, 1) (used by 13/31/44/45).

    Each branch computes only what its formula needs: atan2 and sqrt dominate the cost of the
    cheap variations, so they are not shared up front.
    """
    if vid == 0:
        return x, y
    if vid == 14:
        nx = 2.0 * x if x < 0.0 else x
        ny = y / 2.0 if y < 0.0 else y
        return nx, ny
    if vid == 29:
        return math.sin(x), y
    if vid == 16:
        s = 2.0 / (math.sqrt(x * x + y * y) + 1.0)
        return s * y, s * x
    if vid == 27:
        s = 2.0 / (math.sqrt(x * x + y * y) + 1.0)
        return s * x, s * y
    if vid == 4:
        s = 1.0 / (math.sqrt(x * x + y * y) + _EPS)
        return s * (x - y) * (x + y), s * 2.0 * x * y
    if vid == 17:
        return x + c * math.sin(math.tan(3.0 * y)), y + f * math.sin(math.tan(3.0 * x))
    if vid == 20:
        ey = math.exp(y)  # cosh and sinh from one exp
        iy = 1.0 / ey
        return math.cos(_PI * x) * 0.5 * (ey + iy), -math.sin(_PI * x) * 0.5 * (ey - iy)
    if vid == 1:
        return math.sin(x), math.sin(y)
    rr = x * x + y * y
    if vid == 2:
        s = 1.0 / (rr + _EPS)
        return x * s, y * s
    if vid == 3:
        sr, cr = math.sin(rr), math.cos(rr)
        return x * sr - y * cr, x * cr + y * sr
    if vid == 28:
        s = 4.0 / (rr + 4.0)
        return s * x, s * y
    if vid == 15:
        return x + b * math.sin(y / (c * c + _EPS)), y + e * math.sin(x / (f * f + _EPS))
    if vid == 18:
        s = math.exp(x - 1.0)
        return s * math.cos(_PI * y), s * math.sin(_PI * y)
    if vid == 31:
        a = 2.0 * _PI * r2
        return r1 * x * math.cos(a), r1 * y * math.sin(a)
    if vid == 42:
        return math.sin(x) / math.cos(y), math.tan(y)
    if vid == 44:
        s = math.tan(r1 * _PI) / (rr + _EPS)
        return s * math.cos(x), s * math.sin(y)
    if vid == 48:
        s = 1.0 / (abs(x * x - y * y) + _EPS)
        return s * x, s * y
    r = math.sqrt(rr)
    if vid == 45:
        a = r1 * r
        ca, sa = math.cos(a), math.sin(a)
        return x * (ca + sa), x * (ca - sa)
    theta = math.atan2(x, y)
    if vid == 5:
        return theta / _PI, r - 1.0
    if vid == 6:
        return r * math.sin(theta + r), r * math.cos(theta - r)
    if vid == 7:
        return r * math.sin(theta * r), -r * math.cos(theta * r)
    if vid == 8:
        s = theta / _PI
        return s * math.sin(_PI * r), s * math.cos(_PI * r)
    if vid == 9:
        s = 1.0 / (r + _EPS)
        return s * (math.cos(theta) + math.sin(r)), s * (math.sin(theta) - math.cos(r))
    if vid == 10:
        return math.sin(theta) / (r + _EPS), r * math.cos(theta)
    if vid == 11:
        return math.sin(theta) * math.cos(r), math.cos(theta) * math.sin(r)
    if vid == 12:
        p0 = math.sin(theta + r)
        p1 = math.cos(theta - r)
        p03, p13 = p0 * p0 * p0, p1 * p1 * p1
        return r * (p03 + p13), r * (p03 - p13)
    if vid == 13:
        omega = _PI if r1 < 0.5 else 0.0
        s = math.sqrt(r)
        return s * math.cos(theta / 2.0 + omega), s * math.sin(theta / 2.0 + omega)
    if vid == 19:
        s = r ** math.sin(theta)
        return s * math.cos(theta), s * math.sin(theta)
    if vid == 21:
        c2 = c * c + _EPS
        s = (r + c2) % (2.0 * c2) - c2 + r * (1.0 - c2)
        return s * math.cos(theta), s * math.sin(theta)
    if vid == 22:
        t = _PI * c * c + _EPS
        if (theta + f) % t > t / 2.0:
            a = theta - t / 2.0
        else:
            a = theta + t / 2.0
        return r * math.cos(a), r * math.sin(a)
    return x, y

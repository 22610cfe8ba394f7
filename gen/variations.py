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


# Fast sine and cosine for the chaos game. libm's sin pays for an exact reduction of huge
# arguments (popcorn's sin(tan(3y)) meets them all the time) and for branches the CPU cannot
# predict; here a three-part Cody-Waite reduction by 2*pi (the first two parts have few enough
# bits that n * part is exact for |x| < 5e7), a branch-free fold onto [-pi/2, pi/2] and a
# degree-13 odd Taylor polynomial (Estrin's scheme) give |error| < 1e-9 there, and a value in
# [-1, 1] (to 1e-9) beyond, where the argument's own rounding makes any answer as good.
_INV_2PI = 0.15915494309189535
_2PI_A = 6.28125  # 8 significant bits
_2PI_B = 0.0019353071802470367  # 30 significant bits
_2PI_C = -6.605598148970637e-13
_HALF_PI = 1.5707963267948966
_ROUNDER = 6755399441055744.0  # 1.5 * 2^52: adding and subtracting it rounds to an integer


@nb.njit(cache=True, error_model="numpy")
def fast_sin(x):
    """sin(x), float64 -> float64, |error| < 1e-9 for |x| < 5e7; NaN for inf or NaN."""
    n = (x * _INV_2PI + _ROUNDER) - _ROUNDER
    r = ((x - n * _2PI_A) - n * _2PI_B) - n * _2PI_C  # in [-pi, pi] up to rounding
    r = _PI - r if r > _HALF_PI else r  # sin(r) = sin(+-pi - r), as selects
    r = -_PI - r if r < -_HALF_PI else r
    r = 0.0 if abs(r) > _HALF_PI else r  # huge x: the reduction lost every digit (NaN stays)
    r2 = r * r
    r4 = r2 * r2
    low = (1.0 - 1.6666666666666666e-01 * r2) + r4 * (8.333333333333333e-03
                                                       - 1.984126984126984e-04 * r2)
    high = (2.7557319223985893e-06 - 2.505210838544172e-08 * r2) + r4 * 1.6059043836821613e-10
    return r * (low + r4 * r4 * high)  # fmt: skip


@nb.njit(cache=True, error_model="numpy")
def fast_cos(x):
    """cos(x) = sin(x + pi/2), as accurate as fast_sin."""
    return fast_sin(x + _HALF_PI)


@nb.njit(cache=True, error_model="numpy")
def fast_tan(x):
    """tan(x) = sin(x) / cos(x); +-inf or huge at the poles (numpy error model)."""
    return fast_sin(x) / fast_cos(x)


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
        return fast_sin(x), y
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
        return x + c * fast_sin(fast_tan(3.0 * y)), y + f * fast_sin(fast_tan(3.0 * x))
    if vid == 20:
        ey = math.exp(y)  # cosh and sinh from one exp
        iy = 1.0 / ey
        return fast_cos(_PI * x) * 0.5 * (ey + iy), -fast_sin(_PI * x) * 0.5 * (ey - iy)
    if vid == 1:
        return fast_sin(x), fast_sin(y)
    rr = x * x + y * y
    if vid == 2:
        s = 1.0 / (rr + _EPS)
        return x * s, y * s
    if vid == 3:
        sr, cr = fast_sin(rr), fast_cos(rr)
        return x * sr - y * cr, x * cr + y * sr
    if vid == 28:
        s = 4.0 / (rr + 4.0)
        return s * x, s * y
    if vid == 15:
        return x + b * fast_sin(y / (c * c + _EPS)), y + e * fast_sin(x / (f * f + _EPS))
    if vid == 18:
        s = math.exp(x - 1.0)
        return s * fast_cos(_PI * y), s * fast_sin(_PI * y)
    if vid == 31:
        a = 2.0 * _PI * r2
        return r1 * x * fast_cos(a), r1 * y * fast_sin(a)
    if vid == 42:
        return fast_sin(x) / fast_cos(y), fast_tan(y)
    if vid == 44:
        s = fast_tan(r1 * _PI) / (rr + _EPS)
        return s * fast_cos(x), s * fast_sin(y)
    if vid == 48:
        s = 1.0 / (abs(x * x - y * y) + _EPS)
        return s * x, s * y
    r = math.sqrt(rr)
    if vid == 45:
        a = r1 * r
        ca, sa = fast_cos(a), fast_sin(a)
        return x * (ca + sa), x * (ca - sa)
    theta = math.atan2(x, y)
    if vid == 5:
        return theta / _PI, r - 1.0
    if vid == 6:
        return r * fast_sin(theta + r), r * fast_cos(theta - r)
    if vid == 7:
        return r * fast_sin(theta * r), -r * fast_cos(theta * r)
    if vid == 8:
        s = theta / _PI
        return s * fast_sin(_PI * r), s * fast_cos(_PI * r)
    if vid == 9:
        s = 1.0 / (r + _EPS)
        return s * (fast_cos(theta) + fast_sin(r)), s * (fast_sin(theta) - fast_cos(r))
    if vid == 10:
        return fast_sin(theta) / (r + _EPS), r * fast_cos(theta)
    if vid == 11:
        return fast_sin(theta) * fast_cos(r), fast_cos(theta) * fast_sin(r)
    if vid == 12:
        p0 = fast_sin(theta + r)
        p1 = fast_cos(theta - r)
        p03, p13 = p0 * p0 * p0, p1 * p1 * p1
        return r * (p03 + p13), r * (p03 - p13)
    if vid == 13:
        omega = _PI if r1 < 0.5 else 0.0
        s = math.sqrt(r)
        return s * fast_cos(theta / 2.0 + omega), s * fast_sin(theta / 2.0 + omega)
    if vid == 19:
        s = r ** fast_sin(theta)
        return s * fast_cos(theta), s * fast_sin(theta)
    if vid == 21:
        c2 = c * c + _EPS
        s = (r + c2) % (2.0 * c2) - c2 + r * (1.0 - c2)
        return s * fast_cos(theta), s * fast_sin(theta)
    if vid == 22:
        t = _PI * c * c + _EPS
        if (theta + f) % t > t / 2.0:
            a = theta - t / 2.0
        else:
            a = theta + t / 2.0
        return r * fast_cos(a), r * fast_sin(a)
    return x, y

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
from numba import literal_unroll, types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.extending import intrinsic

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
    return r * (low + r4 * r4 * high)


@nb.njit(cache=True, error_model="numpy")
def fast_cos(x):
    """cos(x) = sin(x + pi/2), as accurate as fast_sin."""
    return fast_sin(x + _HALF_PI)


@nb.njit(cache=True, error_model="numpy")
def fast_tan(x):
    """tan(x) = sin(x) / cos(x); +-inf or huge at the poles (numpy error model)."""
    return fast_sin(x) / fast_cos(x)


# Portable exp, log, pow and atan2. libm's differ between C libraries and from the GPU's in the
# last bits, and a chaotic orbit amplifies any difference; these use only +, -, *, /, sqrt,
# frexp and bit casts (exact, or correctly rounded, everywhere) in a fixed order, so the CPU kernel
# and the CUDA kernel (gen/chaos.cu mirrors them) compute the same bits. Errors: a few ulp.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125  # 15 significant bits: k * _LN2_HI is exact
_LN2_LO = 1.4286068203094173e-06
_SQRT_HALF = 0.7071067811865476
_TAN_PI_8 = 0.41421356237309503
_QUARTER_PI = 0.7853981633974483


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bit cast, as CUDA's
    __longlong_as_double)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _bits_of_float(typingctx, value):
    """The int64 holding the IEEE bits of the float64 ``value`` (CUDA's __double_as_longlong)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


_SMALLEST_NORMAL = 2.2250738585072014e-308
_TWO_54 = 18014398509481984.0
_EXPONENT_BITS = 0x7FF << 52


@nb.njit(cache=True, error_model="numpy")
def portable_frexp(x):
    """math.frexp(x) -> (m, e), float64 -> (float64, int64): x = m 2^e, |m| in [0.5, 1) with
    x's sign; (x, 0) for zeros, infinities and NaN. Read off the bits (subnormals scaled by 2^54
    first, exactly), with no library call, so that a loop around it vectorizes."""
    tiny = abs(x) < _SMALLEST_NORMAL
    bits = _bits_of_float(x * _TWO_54 if tiny else x)
    m = _float_from_bits((bits & ~_EXPONENT_BITS) | (1022 << 52))
    e = ((bits >> 52) & 0x7FF) - (1076 if tiny else 1022)
    special = x == 0.0 or not abs(x) < math.inf
    return (x if special else m), (0 if special else e)


@nb.njit(cache=True, error_model="numpy")
def fast_exp(x):
    """exp(x), float64 -> float64: x = k ln2 + r with |r| <= ln2 / 2, a degree-13 Taylor
    polynomial of exp(r) (Estrin's scheme), times 2^k as two exact powers of two (so a
    subnormal result rounds once, as ldexp's). inf beyond 709.8, 0 below -745, NaN stays NaN."""
    x = 1000.0 if x > 1000.0 else x  # |k| <= 1443: both halves of 2^k are normal numbers
    x = -1000.0 if x < -1000.0 else x
    k = (x * _LOG2E + _ROUNDER) - _ROUNDER
    r = (x - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    q0 = (1.0 + r) + r2 * (0.5 + 0.16666666666666666 * r)
    q1 = (0.041666666666666664 + 0.008333333333333333 * r) + r2 * (
        0.001388888888888889 + 0.0001984126984126984 * r)
    q2 = (2.48015873015873e-05 + 2.7557319223985893e-06 * r) + r2 * (
        2.755731922398589e-07 + 2.505210838544172e-08 * r)
    q3 = 2.08767569878681e-09 + 1.6059043836821613e-10 * r
    p = (q0 + r4 * q1) + (r4 * r4) * (q2 + r4 * q3)
    ki = np.int64(k if k == k else 0.0)
    k1 = ki >> 1
    k2 = ki - k1
    p = (p * _float_from_bits((k1 + 1023) << 52)) * _float_from_bits((k2 + 1023) << 52)
    return p if x == x else x


@nb.njit(cache=True, error_model="numpy")
def fast_log(x):
    """log(x) for finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
    log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its odd series to s^21
    (Estrin's scheme)."""
    m, e = portable_frexp(x)
    if m < _SQRT_HALF:
        m = m * 2.0
        e = e - 1
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    b0 = (0.3333333333333333 + 0.2 * z) + z2 * (0.14285714285714285 + 0.1111111111111111 * z)
    b1 = (0.09090909090909091 + 0.07692307692307693 * z) + z2 * (
        0.06666666666666667 + 0.058823529411764705 * z)
    b2 = 0.05263157894736842 + 0.047619047619047616 * z
    tail = (b0 + z4 * b1) + (z4 * z4) * b2
    log_m = 2.0 * s + 2.0 * s * (z * tail)
    ef = np.float64(e)
    return ef * _LN2_HI + (ef * _LN2_LO + log_m)


@nb.njit(cache=True, inline="always", error_model="numpy")
def fast_pow(r, s):
    """r ** s for r >= 0 (a radius): exp(s log r); 0 ** s is 0, 1 or inf as s > 0, = 0, < 0.
    Both are computed and one selected (no branch, so a loop around it vectorizes)."""
    at_zero = 0.0 if s > 0.0 else (1.0 if s == 0.0 else math.inf)
    power = fast_exp(s * fast_log(r))
    return at_zero if r == 0.0 else power


@nb.njit(cache=True, error_model="numpy")
def fast_atan2(y, x):
    """The angle of (x, y) in [-pi, pi], for finite x, y: atan of min/max on [0, 1], folded
    below tan(pi/8) by atan(t) = pi/4 + atan((t - 1) / (t + 1)), halved by
    atan(u) = 2 atan(u / (1 + sqrt(1 + u^2))) and summed as the odd series to u^23 (Estrin's
    scheme); then unfolded into the octant of (x, y). The signs of zeros are ignored:
    atan2(0, 0) is 0, atan2(+-0, x < 0) is pi."""
    ax = abs(x)
    ay = abs(y)
    big = ay if ay > ax else ax
    small = ax if ay > ax else ay
    t = small / big if big > 0.0 else 0.0
    folded = t > _TAN_PI_8
    u = (t - 1.0) / (t + 1.0) if folded else t
    h = u / (1.0 + math.sqrt(1.0 + u * u))
    w = h * h
    w2 = w * w
    w4 = w2 * w2
    f0 = (-0.3333333333333333 + 0.2 * w) + w2 * (-0.14285714285714285 + 0.1111111111111111 * w)
    f1 = (-0.09090909090909091 + 0.07692307692307693 * w) + w2 * (
        -0.06666666666666667 + 0.058823529411764705 * w)
    f2 = (-0.05263157894736842 + 0.047619047619047616 * w) + w2 * -0.043478260869565216
    tail = (f0 + w4 * f1) + (w4 * w4) * f2
    a = 2.0 * (h + h * (w * tail))
    a = a + _QUARTER_PI if folded else a
    a = _HALF_PI - a if ay > ax else a
    a = _PI - a if x < 0.0 else a
    return -a if y < 0.0 else a


# Each variation is its own small function of one signature, (x, y, b, c, e, f, r1, r2) ->
# (x', y') float64, named _NAME for VARIATIONS[NAME]: b, c, e, f are the map's coefficients
# (the flame paper's (a x + b y + c, d x + e y + f)), r1, r2 uniforms in [0, 1). Inlined into
# one loop per variation (apply_variations), where the compiler vectorizes it.
_V = nb.njit(cache=True, inline="always", error_model="numpy")


@_V
def _linear(x, y, b, c, e, f, r1, r2):
    return x, y


@_V
def _sinusoidal(x, y, b, c, e, f, r1, r2):
    return fast_sin(x), fast_sin(y)


@_V
def _spherical(x, y, b, c, e, f, r1, r2):
    s = 1.0 / (x * x + y * y + _EPS)
    return x * s, y * s


@_V
def _swirl(x, y, b, c, e, f, r1, r2):
    rr = x * x + y * y
    sr, cr = fast_sin(rr), fast_cos(rr)
    return x * sr - y * cr, x * cr + y * sr


@_V
def _horseshoe(x, y, b, c, e, f, r1, r2):
    s = 1.0 / (math.sqrt(x * x + y * y) + _EPS)
    return s * (x - y) * (x + y), s * 2.0 * x * y


@_V
def _polar(x, y, b, c, e, f, r1, r2):
    return fast_atan2(x, y) / _PI, math.sqrt(x * x + y * y) - 1.0


@_V
def _handkerchief(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    return r * fast_sin(theta + r), r * fast_cos(theta - r)


@_V
def _heart(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    return r * fast_sin(theta * r), -r * fast_cos(theta * r)


@_V
def _disc(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    s = fast_atan2(x, y) / _PI
    return s * fast_sin(_PI * r), s * fast_cos(_PI * r)


@_V
def _spiral(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    s = 1.0 / (r + _EPS)
    return s * (fast_cos(theta) + fast_sin(r)), s * (fast_sin(theta) - fast_cos(r))


@_V
def _hyperbolic(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    return fast_sin(theta) / (r + _EPS), r * fast_cos(theta)


@_V
def _diamond(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    return fast_sin(theta) * fast_cos(r), fast_cos(theta) * fast_sin(r)


@_V
def _ex(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    p0 = fast_sin(theta + r)
    p1 = fast_cos(theta - r)
    p03, p13 = p0 * p0 * p0, p1 * p1 * p1
    return r * (p03 + p13), r * (p03 - p13)


@_V
def _julia(x, y, b, c, e, f, r1, r2):
    theta = fast_atan2(x, y)
    omega = _PI if r1 < 0.5 else 0.0
    s = math.sqrt(math.sqrt(x * x + y * y))
    return s * fast_cos(theta / 2.0 + omega), s * fast_sin(theta / 2.0 + omega)


@_V
def _bent(x, y, b, c, e, f, r1, r2):
    return (2.0 * x if x < 0.0 else x), (y / 2.0 if y < 0.0 else y)


@_V
def _waves(x, y, b, c, e, f, r1, r2):
    return x + b * fast_sin(y / (c * c + _EPS)), y + e * fast_sin(x / (f * f + _EPS))




@_V
def _popcorn(x, y, b, c, e, f, r1, r2):
    return x + c * fast_sin(fast_tan(3.0 * y)), y + f * fast_sin(fast_tan(3.0 * x))


@_V
def _exponential(x, y, b, c, e, f, r1, r2):
    s = fast_exp(x - 1.0)
    return s * fast_cos(_PI * y), s * fast_sin(_PI * y)


@_V
def _power(x, y, b, c, e, f, r1, r2):
    theta = fast_atan2(x, y)
    s = fast_pow(math.sqrt(x * x + y * y), fast_sin(theta))
    return s * fast_cos(theta), s * fast_sin(theta)


@_V
def _cosine(x, y, b, c, e, f, r1, r2):
    ey = fast_exp(y)  # cosh and sinh from one exp
    iy = 1.0 / ey
    return fast_cos(_PI * x) * 0.5 * (ey + iy), -fast_sin(_PI * x) * 0.5 * (ey - iy)


@_V
def _rings(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    c2 = c * c + _EPS
    s = (r + c2) % (2.0 * c2) - c2 + r * (1.0 - c2)
    return s * fast_cos(theta), s * fast_sin(theta)


@_V
def _fan(x, y, b, c, e, f, r1, r2):
    r = math.sqrt(x * x + y * y)
    theta = fast_atan2(x, y)
    t = _PI * c * c + _EPS
    a = theta - t / 2.0 if (theta + f) % t > t / 2.0 else theta + t / 2.0
    return r * fast_cos(a), r * fast_sin(a)


@_V
def _eyefish(x, y, b, c, e, f, r1, r2):
    s = 2.0 / (math.sqrt(x * x + y * y) + 1.0)
    return s * x, s * y


@_V
def _fisheye(x, y, b, c, e, f, r1, r2):
    u, v = _eyefish(x, y, b, c, e, f, r1, r2)  # the flame paper's fisheye swaps eyefish's
    return v, u


@_V
def _bubble(x, y, b, c, e, f, r1, r2):
    s = 4.0 / (x * x + y * y + 4.0)
    return s * x, s * y


@_V
def _cylinder(x, y, b, c, e, f, r1, r2):
    return fast_sin(x), y


@_V
def _noise(x, y, b, c, e, f, r1, r2):
    a = 2.0 * _PI * r2
    return r1 * x * fast_cos(a), r1 * y * fast_sin(a)


@_V
def _tangent(x, y, b, c, e, f, r1, r2):
    return fast_sin(x) / fast_cos(y), fast_tan(y)


@_V
def _rays(x, y, b, c, e, f, r1, r2):
    s = fast_tan(r1 * _PI) / (x * x + y * y + _EPS)
    return s * fast_cos(x), s * fast_sin(y)


@_V
def _blade(x, y, b, c, e, f, r1, r2):
    a = r1 * math.sqrt(x * x + y * y)
    ca, sa = fast_cos(a), fast_sin(a)
    return x * (ca + sa), x * (ca - sa)


@_V
def _cross(x, y, b, c, e, f, r1, r2):
    s = 1.0 / (abs(x * x - y * y) + _EPS)
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
_COEFFICIENTS = np.array([v.vid for v in TABLE if v.coefficients], np.int64)


@nb.njit(cache=True, inline="always")
def draws_randoms(vid):
    """True for the variations that use the per-point uniforms r1, r2; the chaos game draws
    them only then."""
    for r in _RANDOMS:
        if vid == r:
            return True
    return False


@nb.njit(cache=True, inline="always")
def uses_coefficients(vid):
    """True for the variations that read the map's coefficients b, c, e, f; the chaos game
    gathers them only then."""
    for r in _COEFFICIENTS:
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
    """Variation ``vid`` on the first n points of xs, ys [>= n] float64, in place, with per-point
    b, c, e, f (the map's coefficients) and r1, r2 (uniforms), each [>= n] float64. Linear and
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
    """V(x, y) for flame variation ``vid``, one point, as float64: apply_variations on arrays
    of one (for tests and one-off use; the chaos game calls apply_variations)."""
    xs, ys, *per_point = (np.array([v], np.float64) for v in (x, y, b, c, e, f, r1, r2))
    apply_variations(vid, xs, ys, *per_point, 1)
    return float(xs[0]), float(ys[0])

"""float32 math that computes the same bits on the CPU (numba) and the GPU (gen/chaos.cu).

libm's sin, exp, log, pow and atan2 differ between C libraries and from the GPU's in the last
bits, and a chaotic orbit amplifies any difference. These use only float32 ``+ - * /``,
``sqrt`` (correctly rounded everywhere, with no fused multiply-adds), comparisons, exact
conversions and bit casts, in a fixed order; chaos.cu mirrors each one operation for
operation. Errors are a few float32 ulp in the ranges stated.

Every constant is a float32: in numba a Python float is a float64, and one of them in an
expression would lift it to float64 (and away from the CUDA kernel's float bits).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic

F = np.float32
ZERO, ONE, TWO, HALF = F(0.0), F(1.0), F(2.0), F(0.5)
PI = F(math.pi)
HALF_PI = F(math.pi / 2)
QUARTER_PI = F(math.pi / 4)
INF = F(math.inf)
_ROUNDER = F(12582912.0)  # 1.5 * 2^23: adding and subtracting it rounds to an integer

# sine: n = round(x / 2 pi); x - n 2 pi in three parts, the first two with few enough bits that
# n times each is exact for |n| < 2^13 (|x| < 5e4); beyond, float32's own spacing of x
# (0.004 at 5e4) already makes any answer as good.
_INV_2PI = F(1 / (2 * math.pi))
_2PI_A = F(6.28125)  # 8 significant bits
_2PI_B = F(2029 / 2**20)  # 11 significant bits
_2PI_C = F(2 * math.pi - 6.28125 - 2029 / 2**20)
# sin(r) on [-pi/2, pi/2]: the odd Taylor polynomial to r^11 (error below 6e-8)
_S3, _S5, _S7 = F(1 / 6), F(1 / 120), F(1 / 5040)
_S9, _S11 = F(1 / 362880), F(1 / 39916800)
_QUARTER_TURN = F(0.25)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _reduce(x, turns):
    """x - 2 pi n, n the integer nearest x / (2 pi) + turns, float32."""
    n = ((x * _INV_2PI + turns) + _ROUNDER) - _ROUNDER
    return ((x - n * _2PI_A) - n * _2PI_B) - n * _2PI_C


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sin_near(r):
    """sin(r) for float32 r in [-pi, pi] up to rounding: folded onto [-pi/2, pi/2] by
    sin(r) = sin(+-pi - r) (as selects), then the polynomial; 0 for |r| beyond (a huge
    argument whose reduction lost every digit), NaN stays NaN."""
    r = PI - r if r > HALF_PI else r
    r = -PI - r if r < -HALF_PI else r
    r = ZERO if abs(r) > HALF_PI else r
    r2 = r * r
    r4 = r2 * r2
    low = (ONE - _S3 * r2) + r4 * (_S5 - _S7 * r2)
    return r * (low + (r4 * r4) * (_S9 - _S11 * r2))


@nb.njit(cache=True, error_model="numpy")
def sin32(x):
    """sin(x), float32 -> float32: |error| < 3e-7 for |x| < 5e4, a value in [-1, 1] beyond;
    NaN for inf or NaN."""
    return _sin_near(_reduce(x, ZERO))


@nb.njit(cache=True, error_model="numpy")
def cos32(x):
    """cos(x) = sin(x + pi/2), float32: |error| < 6e-7 for |x| < 5e4 (the quarter turn is added
    after the reduction, where it rounds at the scale of pi, not of x)."""
    return _sin_near(_reduce(x, _QUARTER_TURN) + HALF_PI)


@nb.njit(cache=True, error_model="numpy")
def tan32(x):
    """tan(x) = sin(x) / cos(x), float32; +-inf or huge at the poles (numpy error model)."""
    return sin32(x) / cos32(x)


def _bitcast(source, target):
    """A numba intrinsic reading the bits of a ``source`` value as a ``target`` one."""

    @intrinsic
    def cast(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    return cast


# CUDA's __int_as_float and __float_as_int
float_from_bits = _bitcast(types.int32, types.float32)
bits_of_float = _bitcast(types.float32, types.int32)


_SMALLEST_NORMAL = F(2.0**-126)
_TWO_25 = F(2.0**25)
_MANTISSA_SIGN = np.int32(~(0xFF << 23))
_HALF_EXPONENT = np.int32(126 << 23)


@nb.njit(cache=True, error_model="numpy")
def frexp32(x):
    """math.frexp for float32: x = m 2^e, |m| in [0.5, 1) with x's sign -> (m float32,
    e int32); (x, 0) for zeros, infinities and NaN. Read off the bits (subnormals scaled by
    2^25 first, exactly), as CUDA's frexpf returns them."""
    tiny = abs(x) < _SMALLEST_NORMAL
    bits = bits_of_float(x * _TWO_25 if tiny else x)
    m = float_from_bits(np.int32((bits & _MANTISSA_SIGN) | _HALF_EXPONENT))
    e = np.int32(((bits >> 23) & 0xFF) - (151 if tiny else 126))
    special = x == ZERO or not abs(x) < INF
    return (x if special else m), (np.int32(0) if special else e)


_LOG2E = F(1 / math.log(2))
_LN2_HI = F(0.693145751953125)  # 15 significant bits: k * _LN2_HI is exact for |k| < 2^9
_LN2_LO = F(math.log(2) - 0.693145751953125)
_EXP_LIMIT = F(110.0)  # |k| <= 159: both halves of 2^k are normal float32
_E2, _E3, _E4, _E5, _E6, _E7 = (F(1 / math.factorial(i)) for i in range(2, 8))


@nb.njit(cache=True, error_model="numpy")
def exp32(x):
    """exp(x), float32: x = k ln2 + r with |r| <= ln2 / 2, the Taylor polynomial of exp(r) to
    r^7 (Estrin's scheme), times 2^k as two exact powers of two (so a subnormal result rounds
    once). inf above 88.7, 0 below -104, NaN stays NaN."""
    x = _EXP_LIMIT if x > _EXP_LIMIT else x
    x = -_EXP_LIMIT if x < -_EXP_LIMIT else x
    k = (x * _LOG2E + _ROUNDER) - _ROUNDER
    r = (x - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    q0 = (ONE + r) + r2 * (_E2 + _E3 * r)
    q1 = (_E4 + _E5 * r) + r2 * (_E6 + _E7 * r)
    p = q0 + (r2 * r2) * q1
    ki = np.int32(k if k == k else ZERO)
    k1 = ki >> 1
    k2 = ki - k1
    p = (p * float_from_bits(np.int32((k1 + 127) << 23))) * float_from_bits(
        np.int32((k2 + 127) << 23))
    return p if x == x else x


_SQRT_HALF = F(math.sqrt(0.5))
_T3, _T5, _T7, _T9, _T11 = F(1 / 3), F(1 / 5), F(1 / 7), F(1 / 9), F(1 / 11)


@nb.njit(cache=True, error_model="numpy")
def log32(x):
    """log(x) for finite float32 x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
    log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its odd series to s^11."""
    m, e = frexp32(x)
    if m < _SQRT_HALF:
        m = m * TWO
        e = e - 1
    f = m - ONE
    s = f / (TWO + f)
    z = s * s
    z2 = z * z
    tail = (_T3 + _T5 * z) + z2 * (_T7 + _T9 * z) + (z2 * z2) * _T11
    log_m = TWO * s + TWO * s * (z * tail)
    ef = F(e)
    return ef * _LN2_HI + (ef * _LN2_LO + log_m)


@nb.njit(cache=True, inline="always", error_model="numpy")
def pow32(r, s):
    """r ** s for float32 r >= 0 (a radius): exp(s log r); 0 ** s is 0, 1 or inf as s > 0,
    = 0, < 0. Both are computed and one selected (no branch, so a loop around it vectorizes)."""
    at_zero = ZERO if s > ZERO else (ONE if s == ZERO else INF)
    power = exp32(s * log32(r))
    return at_zero if r == ZERO else power


_TAN_PI_8 = F(math.tan(math.pi / 8))


@nb.njit(cache=True, error_model="numpy")
def atan2_32(y, x):
    """The angle of (x, y) in [-pi, pi], float32, for finite x, y: atan of min/max on [0, 1],
    folded below tan(pi/8) by atan(t) = pi/4 + atan((t - 1) / (t + 1)), halved by
    atan(u) = 2 atan(u / (1 + sqrt(1 + u^2))) (|h| <= tan(pi/16)) and summed as the odd series
    to h^11; then unfolded into the octant of (x, y). atan2(0, 0) is 0; the signs of zeros are
    ignored."""
    ax = abs(x)
    ay = abs(y)
    big = ay if ay > ax else ax
    small = ax if ay > ax else ay
    t = small / big if big > ZERO else ZERO
    folded = t > _TAN_PI_8
    u = (t - ONE) / (t + ONE) if folded else t
    h = u / (ONE + math.sqrt(ONE + u * u))
    w = h * h
    w2 = w * w
    tail = (_T5 * w - _T3) + w2 * (_T9 * w - _T7) - (w2 * w2) * _T11
    a = TWO * (h + h * (w * tail))
    a = a + QUARTER_PI if folded else a
    a = HALF_PI - a if ay > ax else a
    a = PI - a if x < ZERO else a
    return -a if y < ZERO else a


@nb.njit(cache=True, error_model="numpy")
def pymod32(a, b):
    """Python's float modulo (the sign of the divisor) of float32 a, b. The remainder of fmod is
    exact, the same on every machine; the sign fix rounds in float32."""
    m = np.fmod(a, b)
    if m != ZERO:
        return m + b if (b < ZERO) != (m < ZERO) else m
    return F(math.copysign(0.0, b))

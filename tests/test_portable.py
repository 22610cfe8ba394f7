"""The portable float32 functions (gen/portable.py; chaos.cu computes the same bits, compared in
test_kernel_on_cpu.py): a few float32 ulp from libm's in the ranges the chaos game meets them,
defined on every input it can give them, and float32 all the way through."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen import portable
from fractalvid.gen.portable import (
    atan2_32,
    cos32,
    exp32,
    frexp32,
    log32,
    pow32,
    pymod32,
    sin32,
    tan32,
)

F = np.float32


def f32(lo=None, hi=None, **kw):
    """float32 values in [lo, hi] (bounds rounded to float32)."""
    return st.floats(None if lo is None else float(F(lo)), None if hi is None else float(F(hi)),
                     width=32, **kw)


# float32's spacing at 1 is 1.2e-7: errors of a few of those are what float32 arithmetic gives.
@settings(max_examples=300, deadline=None)
@given(x=f32(-5e4, 5e4, allow_nan=False))
def test_sine_and_cosine_match_libm(x):
    assert abs(float(sin32(F(x))) - math.sin(x)) < 1e-6
    assert abs(float(cos32(F(x))) - math.cos(x)) < 1e-6


def test_sine_and_cosine_are_accurate_on_a_dense_grid():
    """The worst case over 200,001 points of [-20, 20] (hypothesis samples a few hundred)."""
    xs = np.linspace(-20, 20, 200_001).astype(F)
    sines = np.array([sin32(x) for x in xs[::7]])
    cosines = np.array([cos32(x) for x in xs[::7]])
    assert np.abs(sines - np.sin(xs[::7].astype(float))).max() < 4e-7
    assert np.abs(cosines - np.cos(xs[::7].astype(float))).max() < 6e-7


@given(x=f32(allow_nan=False, allow_infinity=False))
def test_sine_stays_in_range_for_any_finite_input(x):
    assert abs(float(sin32(F(x)))) <= 1.0 + 1e-6
    assert abs(float(cos32(F(x)))) <= 1.0 + 1e-6


def test_sine_of_inf_or_nan_is_nan_so_the_chain_restarts():
    assert all(math.isnan(sin32(F(v))) for v in (math.inf, -math.inf, math.nan))
    assert all(math.isnan(cos32(F(v))) for v in (math.inf, -math.inf, math.nan))


@settings(max_examples=300, deadline=None)
@given(x=f32(-87.0, 88.0))
def test_exp_matches_libm(x):
    expected = math.exp(x)
    assert abs(float(exp32(F(x))) - expected) <= 4e-7 * expected


def test_exp_overflows_underflows_and_keeps_nan():
    assert exp32(F(88.8)) == math.inf and exp32(F(1e10)) == math.inf
    assert exp32(F(-104.0)) == 0.0 and exp32(F(-1e10)) == 0.0
    assert 0.0 < exp32(F(-100.0)) < 1e-43  # subnormal, rounded once
    assert math.isnan(exp32(F(math.nan))) and exp32(F(0.0)) == 1.0


@settings(max_examples=1000, deadline=None)
@given(x=f32() | st.sampled_from([1.4e-45, -1.4e-45, 1.1754944e-38, 1.1754942e-38,
                                   3.4028235e38, 0.0, -0.0]))
def test_frexp_is_math_frexp_bit_for_bit(x):
    m, e = frexp32(F(x))
    expected_m, expected_e = math.frexp(float(F(x)))
    assert e == expected_e
    if math.isnan(x):
        assert math.isnan(m)
    else:  # the same bits: subnormals, the signs of zeros, infinities
        assert F(m).view(np.uint32) == F(expected_m).view(np.uint32)


@settings(max_examples=300, deadline=None)
@given(x=f32(1.4e-45, 3.4e38, allow_nan=False, allow_infinity=False))
def test_log_matches_libm(x):
    expected = math.log(x)
    assert abs(float(log32(F(x))) - expected) <= 2e-7 * max(1.0, abs(expected))


@settings(max_examples=300, deadline=None)
@given(r=f32(1e-10, 2e10), s=f32(-1.0, 1.0))
def test_pow_matches_libm_for_radii_and_sine_exponents(r, s):
    """exp(s log r): the error of s log r (up to 23, spacing 2e-6) is the result's relative
    error."""
    expected = r**s
    assert abs(float(pow32(F(r), F(s))) - expected) <= (4e-7 + 1.2e-7 * abs(s * math.log(r))) \
        * expected
    assert pow32(F(0.0), F(s)) == (0.0 if s > 0 else 1.0 if s == 0 else math.inf)


@settings(max_examples=500, deadline=None)
@given(y=f32(-1e10, 1e10, allow_nan=False), x=f32(-1e10, 1e10, allow_nan=False))
def test_atan2_matches_libm(y, x):
    a, expected = float(atan2_32(F(y), F(x))), math.atan2(y, x)
    if y == 0.0:  # the signs of zeros are not looked at: 0 or pi, never -0 or -pi
        expected = math.pi if x < 0.0 else 0.0
    assert abs(a - expected) <= 5e-7 and -F(math.pi) <= a <= F(math.pi)


@settings(max_examples=300, deadline=None)
@given(a=f32(-100.0, 100.0), b=f32(1e-3, 10.0) | f32(-10.0, -1e-3))
def test_modulo_is_pythons_rounded_to_float32(a, b):
    assert F(pymod32(F(a), F(b))) == F(a % b)


def test_tangent_is_sine_over_cosine():
    for x in (0.3, -1.2, 10.0):
        assert tan32(F(x)) == F(sin32(F(x)) / cos32(F(x)))
        assert abs(float(tan32(F(x))) - math.tan(x)) < 2e-6 * max(1.0, abs(math.tan(x)))


@pytest.mark.parametrize("name", ["sin32", "cos32", "tan32", "exp32", "log32", "atan2_32",
                                  "pow32", "pymod32"])
def test_every_function_computes_in_float32(name):
    """A float64 constant would lift the arithmetic to float64 and off the CUDA kernel's bits."""
    function = getattr(portable, name)
    arity = 2 if name in ("atan2_32", "pow32", "pymod32") else 1
    function(*[F(0.7)] * arity)
    (signature,) = [s for s in function.nopython_signatures
                    if all(str(t) == "float32" for t in s.args)]
    assert str(signature.return_type) == "float32"


def test_every_constant_is_a_float32():
    floats = {k: v for k, v in vars(portable).items()
              if isinstance(v, float | np.floating) and not k.startswith("__")}
    assert floats and all(type(v) is np.float32 for v in floats.values()), floats

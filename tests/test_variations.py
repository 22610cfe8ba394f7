"""Each flame variation matches its published formula at a few points."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.variations import (
    DEFAULT_NONLINEAR,
    VARIATIONS,
    apply_variation,
    apply_variations,
    variation_id,
)

PI = math.pi
# (name, x, y, (b, c, e, f), expected (x', y')) -- worked by hand from the flame paper.
CASES = [
    ("linear", 0.3, -0.7, (0, 0, 0, 0), (0.3, -0.7)),
    ("sinusoidal", PI / 2, 0.0, (0, 0, 0, 0), (1.0, 0.0)),
    ("spherical", 2.0, 0.0, (0, 0, 0, 0), (0.5, 0.0)),
    ("horseshoe", 3.0, 4.0, (0, 0, 0, 0), ((3 - 4) * (3 + 4) / 5, 2 * 3 * 4 / 5)),
    ("horseshoe", 1.0, 0.0, (0, 0, 0, 0), (1.0, 0.0)),
    ("polar", 0.0, 2.0, (0, 0, 0, 0), (0.0, 1.0)),  # theta = atan2(x, y) = 0
    ("bent", 0.5, 0.5, (0, 0, 0, 0), (0.5, 0.5)),
    ("bent", -0.5, 0.5, (0, 0, 0, 0), (-1.0, 0.5)),
    ("bent", 0.5, -0.5, (0, 0, 0, 0), (0.5, -0.25)),
    ("bent", -0.5, -0.5, (0, 0, 0, 0), (-1.0, -0.25)),
    ("fisheye", 3.0, 4.0, (0, 0, 0, 0), (2 / 6 * 4, 2 / 6 * 3)),  # note the swap
    ("eyefish", 3.0, 4.0, (0, 0, 0, 0), (2 / 6 * 3, 2 / 6 * 4)),
    ("popcorn", 0.2, 0.1, (0, 0.5, 0, -0.3),
     (0.2 + 0.5 * math.sin(math.tan(0.3)), 0.1 - 0.3 * math.sin(math.tan(0.6)))),
    ("cosine", 0.0, 0.0, (0, 0, 0, 0), (1.0, 0.0)),
    ("cosine", 0.5, 1.0, (0, 0, 0, 0), (0.0, -math.sinh(1.0))),
    ("cylinder", PI / 2, 0.7, (0, 0, 0, 0), (1.0, 0.7)),
    ("bubble", 2.0, 0.0, (0, 0, 0, 0), (1.0, 0.0)),
    ("exponential", 1.0, 0.5, (0, 0, 0, 0), (0.0, 1.0)),
    ("swirl", 1.0, 0.0, (0, 0, 0, 0), (math.sin(1.0), math.cos(1.0))),
    ("waves", 0.5, 0.25, (0.3, 1.0, 0.2, 2.0),
     (0.5 + 0.3 * math.sin(0.25 / 1.0), 0.25 + 0.2 * math.sin(0.5 / 4.0))),
    ("tangent", 0.0, PI / 4, (0, 0, 0, 0), (0.0, 1.0)),
    ("cross", 2.0, 1.0, (0, 0, 0, 0), (2 / 3, 1 / 3)),
    ("diamond", 0.0, 1.0, (0, 0, 0, 0), (0.0, math.sin(1.0))),
    ("handkerchief", 0.0, 1.0, (0, 0, 0, 0), (math.sin(1.0), math.cos(-1.0))),
    ("disc", 1.0, 1.0, (0, 0, 0, 0),  # theta = atan2(x, y) = pi / 4, r = sqrt 2
     (0.25 * math.sin(PI * math.sqrt(2)), 0.25 * math.cos(PI * math.sqrt(2)))),
    ("power", 0.0, 2.0, (0, 0, 0, 0), (1.0, 0.0)),  # theta = 0: r^0 * (cos 0, sin 0)
]


@pytest.mark.parametrize(("name", "x", "y", "params", "expected"), CASES)
def test_variation_matches_its_formula(name, x, y, params, expected):
    b, c, e, f = params
    got = apply_variation(variation_id(name), x, y, b, c, e, f, 0.3, 0.6)
    assert got == pytest.approx(expected, abs=1e-9)


def test_thirty_variations_are_known_and_default_seven():
    nonlinear = [k for k in VARIATIONS if k != "linear"]
    assert len(nonlinear) == 30
    assert set(DEFAULT_NONLINEAR) == {
        "horseshoe", "bent", "fisheye", "popcorn", "cosine", "eyefish", "cylinder"
    }
    with pytest.raises(ValueError, match="unknown variation 'nope'"):
        variation_id("nope")


@pytest.mark.parametrize("name", [k for k in VARIATIONS if k != "linear"])
def test_every_variation_gives_finite_values_on_ordinary_points(name):
    for x, y in [(0.3, 0.4), (-0.8, 0.1), (0.05, -0.6)]:
        out = apply_variation(variation_id(name), x, y, 0.2, 0.7, 0.4, -0.5, 0.25, 0.75)
        assert all(math.isfinite(v) for v in out), (name, x, y, out)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-5e7, 5e7, allow_nan=False))
def test_fast_sine_and_cosine_match_libm(x):
    from fractalvid.gen.variations import fast_cos, fast_sin

    assert abs(fast_sin(x) - math.sin(x)) < 1e-9
    assert abs(fast_cos(x) - math.cos(x)) < 1e-9


@given(x=st.floats(allow_nan=False, allow_infinity=False))
def test_fast_sine_stays_in_range_for_any_finite_input(x):
    from fractalvid.gen.variations import fast_sin

    assert abs(fast_sin(x)) <= 1.0 + 1e-9  # the polynomial is within 1e-9 of sin


def test_fast_sine_of_inf_or_nan_is_nan_so_the_chain_restarts():
    from fractalvid.gen.variations import fast_sin

    assert all(math.isnan(fast_sin(v)) for v in (math.inf, -math.inf, math.nan))


# The portable exp, log, pow and atan2 (the CUDA kernel computes the same bits): accurate to a
# few ulp of libm's, and defined on every input the chaos game can give them.
@settings(max_examples=300, deadline=None)
@given(x=st.floats(-745.0, 709.7, allow_nan=False))
def test_portable_exp_matches_libm(x):
    from fractalvid.gen.variations import fast_exp

    expected = math.exp(x)
    assert abs(fast_exp(x) - expected) <= 1e-15 * expected + 5e-324 * 4


def test_portable_exp_overflows_underflows_and_keeps_nan():
    from fractalvid.gen.variations import fast_exp

    assert fast_exp(709.8) == math.inf and fast_exp(1e10) == math.inf
    assert fast_exp(-746.0) == 0.0 and fast_exp(-1e10) == 0.0
    assert math.isnan(fast_exp(math.nan)) and fast_exp(0.0) == 1.0


@settings(max_examples=1000, deadline=None)
@given(x=st.floats() | st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308,
                                        2.225073858507201e-308, 1.7976931348623157e308]))
def test_portable_frexp_is_math_frexp_bit_for_bit(x):
    from fractalvid.gen.variations import portable_frexp

    m, e = portable_frexp(x)
    expected_m, expected_e = math.frexp(x)
    assert e == expected_e
    if math.isnan(x):
        assert math.isnan(m)
    else:  # the same bits: subnormals, the signs of zeros, infinities
        assert np.float64(m).view(np.uint64) == np.float64(expected_m).view(np.uint64)


@settings(max_examples=300, deadline=None)
@given(x=st.floats(5e-324, 1.7e308, allow_nan=False, allow_infinity=False))
def test_portable_log_matches_libm(x):
    from fractalvid.gen.variations import fast_log

    assert abs(fast_log(x) - math.log(x)) <= 4e-16 * max(1.0, abs(math.log(x)))


@settings(max_examples=300, deadline=None)
@given(r=st.floats(1e-10, 2e10), s=st.floats(-1.0, 1.0))
def test_portable_pow_matches_libm_for_radii_and_sine_exponents(r, s):
    from fractalvid.gen.variations import fast_pow

    assert abs(fast_pow(r, s) - r**s) <= 4e-15 * r**s
    assert fast_pow(0.0, s) == (0.0 if s > 0 else 1.0 if s == 0 else math.inf)


finite = st.floats(-1e10, 1e10, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(y=finite, x=finite)
def test_portable_atan2_matches_libm(y, x):
    from fractalvid.gen.variations import fast_atan2

    a, expected = fast_atan2(y, x), math.atan2(y, x)
    if y == 0.0:  # the signs of zeros are not looked at: 0 or pi, never -0 or -pi
        expected = PI if x < 0.0 else 0.0
    assert abs(a - expected) <= 1e-15 and -PI <= a <= PI


# The chaos game varies a block of chains at a time, in loops the compiler vectorizes. Each point
# must come out bit for bit as it does alone (no reassociation, no fused multiply-adds), whatever
# its neighbours: ordinary points, huge ones, and the inf and NaN a chain meets before it restarts.
coordinate = st.floats(-4.0, 4.0) | st.floats(allow_nan=True, allow_infinity=True)
uniform = st.floats(0.0, 1.0, exclude_max=True)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(VARIATIONS)),
       points=st.lists(st.tuples(*[coordinate] * 6, uniform, uniform), min_size=1, max_size=40))
def test_a_block_of_points_varies_bit_for_bit_as_each_point_alone(name, points):
    vid = variation_id(name)
    columns = [np.array(column, np.float64) for column in zip(*points, strict=True)]
    xs, ys = columns[0].copy(), columns[1].copy()
    apply_variations(vid, xs, ys, *columns[2:], len(points))
    alone = np.array([apply_variation(vid, *point) for point in points])
    block = np.stack([xs, ys], axis=1)
    # NaN where alone is NaN (its sign and payload may differ: the operands of a commutative
    # operation may swap, and a NaN only restarts its chain), the same bits elsewhere (-0.0 and
    # 0.0 told apart).
    np.testing.assert_array_equal(np.isnan(block), np.isnan(alone), err_msg=name)
    numbers = ~np.isnan(alone)
    np.testing.assert_array_equal(block[numbers].view(np.uint64), alone[numbers].view(np.uint64),
                                  err_msg=name)


def test_the_cuda_twin_handles_the_tables_variations_and_draws_the_same_randoms():
    """chaos.cu cannot import the table: its list of variations that draw uniforms, and the
    ids its dispatch handles, are checked against it (the counts themselves are compared bit
    for bit in test_kernel_on_cpu.py)."""
    import re
    from pathlib import Path

    from fractalvid.gen.variations import TABLE

    source = (Path(__file__).parents[1] / "gen" / "chaos.cu").read_text()
    randoms = re.search(r"bool draws_randoms\(int vid\) \{\s*return ([^;]*);", source).group(1)
    assert {int(v) for v in re.findall(r"vid == (\d+)", randoms)} == \
        {v.vid for v in TABLE if v.randoms}
    start = source.index("__device__ void apply_variation(")
    body = source[start:source.index("\n}\n", start)]
    handled = {int(v) for v in re.findall(r"case (\d+):|vid == (\d+)", body) for v in v if v}
    assert handled == {v.vid for v in TABLE}

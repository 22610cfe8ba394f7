"""Each flame variation matches its published formula at a few points."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.variations import (
    DEFAULT_NONLINEAR,
    TABLE,
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
    assert got == pytest.approx(expected, rel=2e-6, abs=2e-6)  # float32: ulp(1) is 1.2e-7


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


# The chaos game varies a block of chains at a time, in loops the compiler vectorizes. Each point
# must come out bit for bit as it does alone (no reassociation, no fused multiply-adds), whatever
# its neighbours: ordinary points, huge ones, and the inf and NaN a chain meets before it restarts.
coordinate = st.floats(-4.0, 4.0, width=32) | st.floats(allow_nan=True, allow_infinity=True,
                                                        width=32)
uniform = st.floats(0.0, 1.0, exclude_max=True, width=32)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(VARIATIONS)),
       points=st.lists(st.tuples(*[coordinate] * 6, uniform, uniform), min_size=1, max_size=40))
def test_a_block_of_points_varies_bit_for_bit_as_each_point_alone(name, points):
    vid = variation_id(name)
    columns = [np.array(column, np.float32) for column in zip(*points, strict=True)]
    xs, ys = columns[0].copy(), columns[1].copy()
    apply_variations(vid, xs, ys, *columns[2:], len(points))
    alone = np.array([apply_variation(vid, *point) for point in points], np.float32)
    block = np.stack([xs, ys], axis=1)
    # NaN where alone is NaN (its sign and payload may differ: the operands of a commutative
    # operation may swap, and a NaN only restarts its chain), the same bits elsewhere (-0.0 and
    # 0.0 told apart).
    np.testing.assert_array_equal(np.isnan(block), np.isnan(alone), err_msg=name)
    numbers = ~np.isnan(alone)
    np.testing.assert_array_equal(block[numbers].view(np.uint32), alone[numbers].view(np.uint32),
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


@pytest.mark.parametrize("variation", TABLE, ids=lambda v: v.name)
def test_every_variation_computes_in_float32(variation):
    """A float64 constant in a formula would lift it to float64, off the CUDA kernel's float
    bits: each point function, given float32, must return float32."""
    args = [np.float32(v) for v in (0.3, -0.4, 0.2, 0.7, 0.4, -0.5, 0.25, 0.75)]
    variation.point(*args)
    (signature,) = [s for s in variation.point.nopython_signatures
                    if all(str(t) == "float32" for t in s.args)]
    assert str(signature.return_type) == "UniTuple(float32 x 2)"

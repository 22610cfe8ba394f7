"""IFS class sampling, motion curves and instance perturbations (docs/method.md)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen import ifs, motion
from fractalvid.gen.instance import sample_perturbation
from fractalvid.gen.spline import quadratic_spline


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 8))
@settings(max_examples=300, deadline=None)
def test_sigma_factor_sum_is_exact_and_values_ordered(seed, n):
    sv, alpha = ifs.sigma_factor_values(n, np.random.default_rng(seed))
    assert abs((sv[:, 0] + 2 * sv[:, 1]).sum() - alpha) < 1e-6
    assert 0.5 * (5 + n) <= alpha <= 0.5 * (6 + n)
    assert np.all(sv[:, 1] >= -1e-12)
    assert np.all(sv[:, 1] <= sv[:, 0] + 1e-12)
    assert np.all(sv[:, 0] <= 1 + 1e-12)
    dets = sv[:, 0] * sv[:, 1]
    assert np.all(np.diff(dets) <= 1e-15), "maps must be ordered by s1*s2, largest first"


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_class_coefficients_have_the_svd_singular_values(seed):
    cls = ifs.sample_class(np.random.default_rng(seed))
    coefs = ifs.class_coefficients(cls)
    t, n = cls.u.shape
    assert coefs.shape == (t, n, 6)
    a = coefs[..., [0, 1, 3, 4]].reshape(t, n, 2, 2)
    sv = np.linalg.svd(a, compute_uv=False)  # descending
    w = cls.u[..., None]
    expected = np.clip((1 - w) * cls.sv[0][None] + w * cls.sv[1][None], 0, 1)
    np.testing.assert_allclose(sv, np.sort(expected, axis=-1)[..., ::-1], atol=1e-9)
    # the translation is the interpolated shift
    shift = (1 - w) * cls.shift[0][None] + w * cls.shift[1][None]
    np.testing.assert_allclose(coefs[..., [2, 5]], shift, atol=1e-12)


def _matrix_coefficients(cls):
    """The coefficients as matrices: A = R(theta) D1 diag(s) R(phi) D2, one einsum."""
    w = cls.u

    def lerp(p):
        ww = w.reshape(w.shape + (1,) * (p.ndim - 2))
        return (1.0 - ww) * p[0][None] + ww * p[1][None]

    def rot(a):
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)

    sv, shift = np.clip(lerp(cls.sv), 0.0, 1.0), lerp(cls.shift)
    middle = (rot(lerp(cls.theta)) * cls.flips[:, 0:2][None, :, None, :]) * sv[..., None, :]
    a = np.einsum("tnij,tnjk->tnik", middle, rot(lerp(cls.phi)))
    a = a * cls.flips[:, 2:4][None, :, None, :]
    return np.stack([a[..., 0, 0], a[..., 0, 1], shift[..., 0],
                     a[..., 1, 0], a[..., 1, 1], shift[..., 1]], -1)


@given(seed=st.integers(0, 2**32 - 1), still=st.booleans(), zero=st.booleans())
@settings(max_examples=300, deadline=None)
def test_class_coefficients_are_the_matrix_product_bit_for_bit(seed, still, zero):
    cls = ifs.sample_class(np.random.default_rng(seed), frames=(1, 1) if still else (18, 20))
    if zero:  # singular values clipped to 0 give zero products, whose signs must match too
        sv = cls.sv.copy()
        sv[:, 0, 1], sv[1, -1] = 0.0, -0.25
        cls = dataclasses.replace(cls, sv=sv)
    assert ifs.class_coefficients(cls).tobytes() == _matrix_coefficients(cls).tobytes()


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_map_probabilities_sum_to_one_and_follow_det(seed):
    cls = ifs.sample_class(np.random.default_rng(seed))
    coefs = ifs.class_coefficients(cls)
    p = ifs.map_probabilities(coefs)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
    det = np.abs(coefs[..., 0] * coefs[..., 4] - coefs[..., 1] * coefs[..., 3])
    np.testing.assert_allclose(p * det.sum(-1, keepdims=True), det, atol=1e-12)


def test_singular_frames_fall_back_to_uniform_choice():
    p = ifs.map_probabilities(np.zeros((2, 4, 6)))
    np.testing.assert_allclose(p, 0.25)


def test_class_draws_follow_the_configured_ranges():
    rng = np.random.default_rng(0)
    classes = [ifs.sample_class(rng) for _ in range(400)]
    maps = np.array([c.n_maps for c in classes])
    frames = np.array([c.frames for c in classes])
    assert set(maps) == set(range(3, 9))
    assert set(frames) == {18, 19, 20}
    linear = np.mean([c.variation == 0 for c in classes])
    assert 0.4 < linear < 0.6  # half the classes stay linear
    assert 0.12 < np.mean([c.constant_shift for c in classes]) < 0.28
    for c in classes[:50]:
        assert np.all(np.abs(c.theta[1] - c.theta[0]) <= np.pi)
        assert np.all(np.isin(c.flips, [-1.0, 1.0]))


@given(seed=st.integers(0, 2**32 - 1), t=st.integers(18, 20))
@settings(max_examples=100, deadline=None)
def test_sharp_curve_is_a_sudden_ramp(seed, t):
    u = motion.sharp_curve(t, np.random.default_rng(seed))
    assert u.shape == (t,)
    assert np.all(u[:4] == 0.0), "at least 4 still frames first"
    assert u[-1] == 1.0
    assert np.all(np.diff(u) >= 0)
    moving = np.count_nonzero((u > 0) & (u < 1))
    assert 3 <= moving <= 8  # a 4-8 frame ramp has 3-8 frames strictly between 0 and 1


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_smooth_curve_stays_in_unit_range_and_reverses(seed):
    rng = np.random.default_rng(seed)
    u = motion.smooth_curve(19, rng)
    assert np.all((u >= 0) & (u <= 1))
    signs = np.sign(np.diff(u))
    assert np.any(signs > 0) or np.any(signs < 0)


def test_smooth_curves_usually_move_back_and_forth():
    rng = np.random.default_rng(1)
    reversals = [np.count_nonzero(np.diff(np.sign(np.diff(motion.smooth_curve(19, rng))))) > 0
                 for _ in range(200)]
    assert np.mean(reversals) > 0.9


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_periodic_curve_is_a_small_oscillation(seed):
    u = motion.periodic_curve(20, np.random.default_rng(seed))
    assert np.max(np.abs(u)) <= 4.0 * 15 / 100 + 1e-12
    # period 5-15 frames over 20 frames: at least one sign change
    assert np.count_nonzero(np.diff(np.sign(u))) >= 1


def test_weight_modes_and_family_frequencies():
    rng = np.random.default_rng(2)
    kinds = [motion.sample_weights(19, 5, rng)[1] for _ in range(3000)]
    all_linear = np.mean([all(k == "linear" for k in ks) for ks in kinds])
    # P(all linear) = 0.2 + 0.8 * P(mixed and every map drew the linear curve) > 0.2
    assert 0.2 < all_linear < 0.3
    shared = [ks[0] for ks in kinds if len(set(ks)) == 1 and ks[0] != "linear"]
    freq = {f: shared.count(f) / len(shared) for f in motion.FAMILIES}
    for f, w in zip(motion.FAMILIES, motion.FAMILY_WEIGHTS):
        assert abs(freq[f] - w) < 0.06, freq
    u, ks = motion.sample_weights(19, 5, rng, linear_only=True)
    np.testing.assert_allclose(u, np.linspace(0, 1, 19)[:, None].repeat(5, 1))


@given(values=st.lists(st.floats(-5, 5), min_size=2, max_size=9), extra=st.integers(0, 4))
@settings(max_examples=200, deadline=None)
def test_quadratic_spline_passes_through_its_values(values, extra):
    k = len(values)
    length = (k - 1) * (extra + 1) + 1  # knots fall on samples
    s = quadratic_spline(np.array(values), length)
    np.testing.assert_allclose(s[:: extra + 1], values, atol=1e-9)


def test_instance_perturbation_is_smooth_and_bounded():
    rng = np.random.default_rng(3)
    p = sample_perturbation(19, 6, rng)
    assert p.scale.shape == (19, 6) and p.offset.shape == (6, 6)
    assert np.all(np.abs(p.scale - 1) <= 0.4 + 1e-12)
    assert np.all(np.abs(p.offset) <= 0.2)
    assert np.max(np.abs(np.diff(p.scale, axis=0))) < 0.4  # no jumps between frames
    coefs = np.ones((19, 6, 6))
    np.testing.assert_allclose(p.apply(coefs), p.scale[:, None, :] + p.offset[None])


@pytest.mark.parametrize("n", [2, 9])
def test_map_count_outside_range_is_rejected(n):
    with pytest.raises(ValueError, match="map count"):
        ifs.sigma_factor_values(n, np.random.default_rng(0))

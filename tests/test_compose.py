"""The compose stage: each operation's defining property, frequencies, determinism, records."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.compose import apply_ops, blend, sample_ops
from fractalvid.gen.rng import stream
from fractalvid.gen.warp import homography, translate, warp_frames, warp_frames_xp
from fractalvid.pipelines.clips import DONOR_GROUP, block_donors, donor_blocks
from fractalvid.pipelines.config import build_config
from fractalvid.pipelines.plan import clip_specs, plan_shards

SIZE = 64
T = 12
PAPER = build_config("paper").compose_settings


def dot_clip(x: int = SIZE // 2, y: int = SIZE // 2, t: int = T, r: int = 1) -> np.ndarray:
    """[t, SIZE, SIZE] uint8: a bright square of side 2r centred on pixel corner (x, y)."""
    frames = np.zeros((t, SIZE, SIZE), np.uint8)
    frames[:, y - r : y + r, x - r : x + r] = 255
    return frames


def centroids(frames: np.ndarray) -> np.ndarray:
    """Brightness-weighted centre of each frame, in pixel-corner coordinates: [T, 2] (x, y)."""
    f = frames.astype(np.float64)
    ys, xs = np.mgrid[0 : f.shape[1], 0 : f.shape[2]] + 0.5
    mass = f.sum(axis=(1, 2))
    return np.stack([(f * xs).sum(axis=(1, 2)) / mass, (f * ys).sum(axis=(1, 2)) / mass], 1)


def test_identity_and_integer_translation_warps_are_exact():
    rng = np.random.default_rng(0)
    frames = rng.random((3, 16, 16)).astype(np.float32)
    same = warp_frames(frames, np.stack([np.eye(3)] * 3), (16, 16))
    np.testing.assert_allclose(same, frames, atol=1e-6)
    moved = warp_frames(frames, np.stack([translate(3, -2)] * 3), (16, 16))
    np.testing.assert_allclose(moved[:, :14, 3:], frames[:, 2:, :13], atol=1e-6)
    assert np.all(moved[:, :, :3] == 0) and np.all(moved[:, 14:, :] == 0)  # black outside


@pytest.mark.parametrize("channels", [(), (3,)])
def test_numba_warp_equals_the_array_module_warp(channels):
    """The CPU kernel and the numpy/cupy formulation compute the same bits (both output and
    source larger than one block of the kernel's taps, and a perspective that leaves the
    source)."""
    rng = np.random.default_rng(2)
    frames = rng.random((4, 40, 40) + channels).astype(np.float32)
    corners = np.array([[0, 0], [40, 0], [40, 40], [0, 40]], np.float64)
    h = homography(corners, corners + rng.uniform(-8, 8, (4, 2)))
    forward = np.stack([h, translate(2.5, -1.25) @ h, np.eye(3), translate(0.3, 0.7)])
    expected = warp_frames_xp(frames, forward, (36, 44), np)
    np.testing.assert_array_equal(warp_frames(frames, forward, (36, 44)), expected)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 3 * 4096 + 7),
       alpha=st.floats(0.25, 0.55), gamma=st.floats(0.6, 1.0))
def test_the_blend_kernel_computes_the_array_module_s_bits(seed, size, alpha, gamma):
    """The numba power blend (blocks of cells, then lookups) and the formulation the GPU runs
    (whole-array operations) give the same float32 bits, for any length."""
    rng = np.random.default_rng(seed)
    f, b = (rng.random(size).astype(np.float32) for _ in range(2))
    f[::5] = 0.0  # the first table cell, and the last
    b[::7] = 1.0
    p = {"mode": "power", "alpha": alpha, "gamma": gamma}
    np.testing.assert_array_equal(blend(f, b, p), blend(f, b, p, xp=_NUMPY_AS_ANOTHER_XP))


# numpy, seen by ``blend`` as another array module (so it takes the path CuPy takes)
_NUMPY_AS_ANOTHER_XP = SimpleNamespace(
    **{name: getattr(np, name) for name in ("sqrt", "clip", "minimum", "maximum", "asarray",
                                            "int32", "float32")})


def test_warp_keeps_channels():
    frames = np.random.default_rng(1).random((2, 8, 8, 3)).astype(np.float32)
    out = warp_frames(frames, np.stack([np.eye(3)] * 2), (8, 8))
    assert out.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(out, frames, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(angle=st.floats(0, 360), speed=st.floats(0.2, 2.5), start=st.integers(0, 4))
def test_pan_moves_a_dot_by_speed_pixels_per_frame(angle, speed, start):
    op = {"name": "pan", "params": {"angle": angle, "speed": speed, "start": start,
                                    "length": T - start}}
    out = apply_ops([op], dot_clip(), {})
    c = centroids(out)
    a = np.deg2rad(angle)
    steps = np.clip(np.arange(T) - start, 0, None)
    expected = c[0] + steps[:, None] * speed * np.array([np.cos(a), np.sin(a)])
    np.testing.assert_allclose(c, expected, atol=0.05)


def test_object_shift_moves_the_fractal_but_not_the_background():
    scale = {"name": "scale", "params": {"sx": 1.0, "sy": 1.0, "cx": SIZE / 2, "cy": SIZE / 2}}
    shift = {"name": "shift", "params": {"angle": 90.0, "speed": 1.5, "start": 2, "length": 6}}
    out = apply_ops([scale, shift], dot_clip(), {})
    dy = centroids(out)[:, 1] - centroids(out)[0, 1]
    np.testing.assert_allclose(dy, np.clip(np.arange(T) - 2, 0, 6) * 1.5, atol=0.05)
    bg = {"name": "background", "params": {"kind": "dynamic", "donor": "d", "start": 0,
                                           "length": 1, "reverse": False}}
    donor = np.zeros((T, SIZE, SIZE), np.uint8)
    donor[:, 5:9, 5:9] = 200  # a fixed patch in the background
    out = apply_ops([bg, {"name": "blend", "params": {"mode": "max"}}, scale, shift],
                    dot_clip(), {"d": donor})
    assert np.all(out[:, 5:9, 5:9] == 200)  # background stays put while the dot moves
    assert out[-1, SIZE // 2 + 9, SIZE // 2] == 255  # 6 frames at 1.5 px


@pytest.mark.parametrize("direction", ["in", "out"])
def test_zoom_grows_or_shrinks_a_square(direction):
    frames = dot_clip(r=8)
    op = {"name": "zoom", "params": {"direction": direction, "rate": 0.05, "start": 0,
                                     "length": T}}
    out = apply_ops([op], frames, {})
    area = out.astype(np.float64).sum(axis=(1, 2)) / 255
    factor = 1 + 0.05 * np.arange(T)
    factor = factor if direction == "in" else 1 / factor
    # the side grows (shrinks) with the zoom factor, within half a pixel of sampling error
    np.testing.assert_allclose(np.sqrt(area), 16 * factor, atol=0.5)
    assert np.all(np.diff(area) > 0) if direction == "in" else np.all(np.diff(area) < 0)
    np.testing.assert_allclose(centroids(out), centroids(frames), atol=0.05)  # centre crop


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([64, 112, 256]))
def test_shake_offsets_stay_within_the_amplitude(seed, size):
    s = build_config("paper", {"shake_p": "1"}).compose_settings
    ops = {o["name"]: o["params"] for o in sample_ops(stream(seed, "compose", 0), s, 19, size, [])}
    p = ops["shake"]
    lo, hi = (a * size / 112 for a in s.shake_amplitude)
    assert lo - 1e-3 <= p["amplitude"] <= hi + 1e-3
    for axis in ("dx", "dy"):
        v = np.abs(p[axis])
        assert len(v) == 19 and v.max() <= p["amplitude"] + 1e-3
        assert v.max() >= p["amplitude"] * (1 - 1e-3) - 1e-3  # it reaches the amplitude


def test_shake_moves_the_frame_by_its_offsets():
    dx = [0.0, 1.5, -2.0, 0.5] * 3
    dy = [1.0, -1.0, 2.0, 0.0] * 3
    op = {"name": "shake", "params": {"amplitude": 2.0, "dx": dx, "dy": dy}}
    c = centroids(apply_ops([op], dot_clip(), {}))
    np.testing.assert_allclose(c - [SIZE / 2, SIZE / 2], np.stack([dx, dy], 1), atol=0.05)


@settings(max_examples=50, deadline=None)
@given(
    fg=st.lists(st.floats(0, 1), min_size=16, max_size=16),
    bg=st.lists(st.floats(0, 1), min_size=16, max_size=16),
    alpha=st.floats(0.25, 0.55),
    gamma=st.floats(0.6, 1.0),
)
def test_blend_stays_in_unit_range_and_equals_the_formula(fg, bg, alpha, gamma):
    f = np.array(fg, np.float32)
    b = np.array(bg, np.float32)
    out = blend(f, b, {"mode": "power", "alpha": alpha, "gamma": gamma})
    assert np.all((out >= 0) & (out <= 1 + 1e-6))
    expected = ((1 - alpha) * f.astype(np.float64) ** 0.75 + alpha * b**0.75) ** gamma
    # m ** gamma comes from a 65,536-cell table: exact to 1e-5 but in the first cells
    assert np.all(np.abs(out - expected) <= 1e-5 + 3e-4 * (expected < 0.01))
    np.testing.assert_array_equal(blend(f, b, {"mode": "max"}), np.maximum(f, b))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_perspective_keeps_the_centre(seed):
    s = build_config("paper", {"perspective_p": "1"}).compose_settings
    ops = [o for o in sample_ops(stream(seed, "compose", 1), s, T, SIZE, [])
           if o["name"] == "perspective"]
    out = apply_ops(ops, dot_clip(r=1), {})
    np.testing.assert_allclose(centroids(out), SIZE / 2, atol=0.35)
    corners = np.array(ops[0]["params"]["corners"])
    square = np.array([[0, 0], [SIZE, 0], [SIZE, SIZE], [0, SIZE]], np.float64)
    assert np.all(np.abs(corners - square) <= s.perspective_distortion * SIZE / 2 + 1e-3)


def test_homography_maps_the_four_points():
    src = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)
    dst = np.array([[1, 2], [9, 1], [11, 12], [-1, 8]], np.float64)
    h = homography(src, dst)
    for (x, y), (u, v) in zip(src, dst):
        p = h @ [x, y, 1]
        np.testing.assert_allclose(p[:2] / p[2], [u, v], atol=1e-9)


def test_a_clone_adds_a_second_copy():
    frames = dot_clip(r=3)
    one = {"name": "scale", "params": {"sx": 0.5, "sy": 0.5, "cx": 16.0, "cy": 16.0}}
    two = {"name": "clone", "params": {
        "sx": 0.5, "sy": 0.5, "cx": 48.0, "cy": 44.0, "flip": True, "rotation": 30.0,
        "time_offset": 2,
    }}
    single = apply_ops([one], frames, {})
    double = apply_ops([one, two], frames, {})
    lit = lambda f: (f > 64).sum(axis=(1, 2))  # noqa: E731
    np.testing.assert_array_equal(double[:, :32, :32], single[:, :32, :32])  # first copy kept
    assert np.all(lit(double) >= 2 * lit(single) - 2)  # a second copy of the same size
    np.testing.assert_allclose(centroids(double[:, 32:, 32:]) + 32, [[48, 44]] * T, atol=0.3)


def test_static_background_is_max_of_two_donor_frames_cropped():
    a = np.zeros((4, SIZE, SIZE), np.uint8)
    b = np.zeros((4, SIZE, SIZE), np.uint8)
    a[2, :, : SIZE // 2] = 100
    b[1, :, SIZE // 2 :] = 180
    crop = [0.0, 0.0, float(SIZE), float(SIZE)]
    picks = [{"donor": "a", "frame": 2}, {"donor": "b", "frame": 1}]
    bg = {"name": "background", "params": {"kind": "static", "frames": picks, "crop": crop}}
    out = apply_ops([bg, {"name": "blend", "params": {"mode": "max"}}],
                    np.zeros((T, SIZE, SIZE), np.uint8), {"a": a, "b": b})
    assert np.all(out[:, :, : SIZE // 2] == 100) and np.all(out[:, :, SIZE // 2 :] == 180)


def test_dynamic_background_plays_a_segment_forward_and_back():
    donor = np.arange(20, dtype=np.uint8)[:, None, None] * np.ones((1, SIZE, SIZE), np.uint8)
    bg = {"name": "background", "params": {"kind": "dynamic", "donor": "d", "start": 5,
                                           "length": 3, "reverse": False}}
    out = apply_ops([bg, {"name": "blend", "params": {"mode": "max"}}],
                    np.zeros((9, SIZE, SIZE), np.uint8), {"d": donor})
    assert list(out[:, 0, 0]) == [5, 6, 7, 6, 5, 6, 7, 6, 5]


def test_each_operation_fires_at_its_configured_probability():
    n = 3000
    counts: dict[str, int] = {}
    kinds = {"dynamic": 0, "static": 0}
    blends = {"max": 0, "power": 0}
    donors = [("a", 19), ("b", 20)]
    for i in range(n):
        for op in sample_ops(stream(7, "compose", i), PAPER, 19, 128, donors):
            counts[op["name"]] = counts.get(op["name"], 0) + 1
            if op["name"] == "background":
                kinds[op["params"]["kind"]] += 1
            if op["name"] == "blend":
                blends[op["params"]["mode"]] += 1
    expected = {
        "background": PAPER.bg_p, "blend": PAPER.bg_p, "scale": 1.0, "clone": PAPER.clone_p,
        "shift": PAPER.shift_p, "pan": PAPER.pan_p, "zoom": PAPER.zoom_p,
        "shake": PAPER.shake_p, "perspective": PAPER.perspective_p,
    }
    for name, p in expected.items():
        tol = 4 * np.sqrt(p * (1 - p) / n) + 1e-9
        assert abs(counts.get(name, 0) / n - p) <= tol, (name, counts.get(name, 0) / n, p)
    assert abs(kinds["dynamic"] / n - PAPER.bg_dynamic_p) <= 4 * np.sqrt(0.16 / n)
    assert abs(blends["max"] / n - PAPER.blend_max_p) <= 4 * np.sqrt(0.0475 / n)


def test_probabilities_are_configurable_and_augment_false_is_the_identity():
    s = build_config("paper", {"shift_p": "0", "zoom_p": "1"}).compose_settings
    names = [o["name"] for i in range(50) for o in sample_ops(stream(1, "compose", i), s, 19, 64,
                                                              [("a", 19)])]
    assert "shift" not in names and names.count("zoom") == 50
    assert sample_ops(stream(1, "compose", 0), s, 19, 64, [("a", 19)], augment=False) == []
    frames = dot_clip()
    assert apply_ops([], frames, {}) is frames


def test_color_gives_rgb_with_tinted_layers():
    ops = sample_ops(stream(3, "compose", 0), PAPER, T, SIZE, [], augment=False, color=True)
    assert [o["name"] for o in ops] == ["color"]
    out = apply_ops(ops, dot_clip(), {})
    assert out.shape == (T, SIZE, SIZE, 3) and out.dtype == np.uint8
    rgb = out[0, SIZE // 2, SIZE // 2].astype(float) / 255
    np.testing.assert_allclose(rgb, ops[0]["params"]["fg"], atol=1 / 255)


def test_the_record_alone_reproduces_the_clip():
    rng = np.random.default_rng(5)
    frames = (rng.random((T, SIZE, SIZE)) ** 4 * 255).astype(np.uint8)
    donors = {"x": (rng.random((T + 2, SIZE, SIZE)) * 255).astype(np.uint8),
              "y": (rng.random((T, SIZE, SIZE)) * 255).astype(np.uint8)}
    for i in range(20):
        ops = sample_ops(stream(11, "compose", i), PAPER, T, SIZE, [("x", T + 2), ("y", T)],
                         color=i % 2 == 1)
        again = sample_ops(stream(11, "compose", i), PAPER, T, SIZE, [("x", T + 2), ("y", T)],
                           color=i % 2 == 1)
        assert ops == again  # deterministic draws
        recorded = json.loads(json.dumps(ops))  # what KEY.json holds
        clip = apply_ops(recorded, frames, donors)
        np.testing.assert_array_equal(clip, apply_ops(ops, frames, donors))
        # and the record is what decides: move any one recorded number, and the clip moves
        # (a parameter drawn again, or ignored, would leave it as it was)
        for k, op in enumerate(recorded):
            for path in _floats(op["params"]):
                if (op["name"], path) in INFORMATIONAL:
                    continue
                moved = json.loads(json.dumps(recorded))
                _move(moved[k]["params"], path)
                assert not np.array_equal(apply_ops(moved, frames, donors), clip), \
                    (op["name"], path)


# Recorded for the reader, not read back: a shake's offsets (dx, dy) already hold its amplitude.
INFORMATIONAL = {("shake", ("amplitude",))}


def _floats(params, path=()):
    """Paths to every float in ``params`` (nested dicts and lists)."""
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        if isinstance(value, float):
            yield (*path, key)
        elif isinstance(value, (dict, list)):
            yield from _floats(value, (*path, key))


def _move(params, path):
    for key in path[:-1]:
        params = params[key]
    params[path[-1]] = params[path[-1]] * 1.1 + 0.37


def test_background_donors_are_other_clips_of_the_block_preferring_other_classes():
    cfg = build_config("tiny", {"classes": "3", "shard_size": "20"})
    shard = plan_shards(cfg)[0]
    specs = clip_specs(cfg, shard)
    blocks = donor_blocks(specs)
    assert [s for b in blocks for s in b] == specs
    for at, spec in enumerate(specs):
        group = block_donors(blocks[at // DONOR_GROUP], spec)
        assert spec not in group and group
        assert all(d.class_id != spec.class_id for d in group)
        assert all(at // DONOR_GROUP == specs.index(d) // DONOR_GROUP for d in group)


def test_the_array_module_path_matches_the_cpu_path():
    """apply_ops with a non-numpy array module (cupy on the GPU) takes the whole-array warp
    and blend; a numpy stand-in that is not ``np`` runs that path here, and must give numba's
    bits: only +, -, *, /, sqrt, floor and table lookups, each rounded alike everywhere."""
    import types

    xp = types.ModuleType("numpy_as_another_module")
    xp.__dict__.update(np.__dict__)
    rng = np.random.default_rng(9)
    frames = (rng.random((T, SIZE, SIZE)) ** 3 * 255).astype(np.uint8)
    donors = {"x": (rng.random((T, SIZE, SIZE)) * 255).astype(np.uint8)}
    s = build_config("paper", {"clone_p": "1", "shift_p": "1", "pan_p": "1", "zoom_p": "1",
                               "shake_p": "1", "perspective_p": "1"}).compose_settings
    blends = set()
    for i in range(12):
        ops = sample_ops(stream(2, "compose", i), s, T, SIZE, [("x", T)], color=i % 2 == 0)
        blends |= {op["params"]["mode"] for op in ops if op["name"] == "blend"}
        np.testing.assert_array_equal(apply_ops(ops, frames, donors),
                                      apply_ops(ops, frames, donors, xp=xp))
    assert "power" in blends


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), channels=st.sampled_from([None, 1, 3]),
       sizes=st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 24),
                       st.integers(1, 24)),
       flips=st.tuples(st.booleans(), st.booleans()))
def test_the_axis_aligned_warp_gives_the_general_warps_bytes(seed, channels, sizes, flips):
    from fractalvid.gen.warp import _axis_aligned, _warp_axis_kernel, _warp_kernel, scale

    h, w, oh, ow = sizes
    rng = np.random.default_rng(seed)
    t = int(rng.integers(1, 4))
    src = rng.random((t, h, w, channels or 1)).astype(np.float32)
    forward = np.stack([
        translate(*rng.uniform(-8, 24, 2)) @
        scale(*(rng.uniform(0.2, 3, 2) * np.where(flips, -1, 1))) for _ in range(t)])
    inv = np.linalg.inv(forward).astype(np.float32)
    assert _axis_aligned(inv)
    general, aligned = (np.empty((t, oh, ow, channels or 1), np.float32) for _ in range(2))
    _warp_kernel(src, inv, general)
    _warp_axis_kernel(src, inv, aligned)
    np.testing.assert_array_equal(aligned, general)
    assert not _axis_aligned(np.linalg.inv(homography(
        np.array([[0, 0], [1, 0], [1, 1], [0, 1]]), np.array([[0, 0], [1, 0.1], [1, 1], [0, 1]])
    ))[None].astype(np.float32))

"""The chaos-game renderer: correctness against a reference, framing, tone map, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.chaos import alias_lanes, alias_table, chaos_histograms, draw_maps
from fractalvid.gen.framing import clip_window, trim_box
from fractalvid.gen.render import CpuRenderer, RenderJob, RenderSettings
from fractalvid.gen.tonemap import tone_map
from fractalvid.gen.variations import VARIATIONS

from reference import reference_counts

SIERPINSKI = np.array([
    [0.5, 0, 0.0, 0, 0.5, 0.0],
    [0.5, 0, 0.5, 0, 0.5, 0.0],
    [0.5, 0, 0.25, 0, 0.5, 0.5],
])  # vertices (0,0), (1,0), (0.5,1)
SMALL = RenderSettings(resolution=64, chains=32, iterations=1500, burn_in=50)


def _render(coefs, settings=SMALL, variation=0, seed=7, frames=2):
    job = RenderJob(np.repeat(coefs[None], frames, axis=0), variation, seed)
    return CpuRenderer().render([job], settings)[0]


def _pixel_of(window, size, x, y):
    x_min, x_max, y_min, y_max = window
    col = int((x - x_min) / (x_max - x_min) * size)
    row = int((y_max - y) / (y_max - y_min) * size)
    return row, col


def test_sierpinski_lights_the_triangle_and_leaves_the_hole_black():
    r = _render(SIERPINSKI)
    frame = r.frames[0]
    size = frame.shape[0]
    x_min, x_max, y_min, y_max = r.window
    # framing: the triangle [0,1]x[0,1] fills the canvas up to the padding
    assert -0.2 < x_min < 0.05 and 0.95 < x_max < 1.2
    assert -0.2 < y_min < 0.05 and 0.95 < y_max < 1.2
    # corners of the triangle are lit
    for x, y in [(0.02, 0.01), (0.98, 0.01), (0.5, 0.97)]:
        row, col = _pixel_of(r.window, size, x, y)
        assert frame[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].max() > 100, (x, y)
    # the central hole (triangle (0.25,0.5), (0.75,0.5), (0.5,0)) shrunk by a margin is black
    ys, xs = np.mgrid[0:size, 0:size]
    wx = x_min + (xs + 0.5) / size * (x_max - x_min)
    wy = y_max - (ys + 0.5) / size * (y_max - y_min)
    margin = 0.06  # > 1 pixel + splat; slanted edges (slope 2) need sqrt(5) x in y
    slant = margin * np.sqrt(5)
    in_hole = (wy < 0.5 - margin) & (wy > 2 * np.abs(wx - 0.5) + slant)
    above = (wy > 2 * wx + slant) | (wy > 2 * (1 - wx) + slant)  # outside the triangle
    assert in_hole.sum() > 50 and above.sum() > 200
    assert frame[in_hole].max() == 0
    assert frame[above].max() == 0
    assert (frame > 0).mean() > 0.15


def _blocks(frame, k=4):
    """[H, W] -> [H / k, W / k] block sums, as float: less sampling noise to compare."""
    h, w = frame.shape
    return frame.reshape(h // k, k, w // k, k).astype(float).sum(axis=(1, 3))


@pytest.mark.parametrize("name", sorted(VARIATIONS))
def test_kernel_matches_the_numpy_reference_for_every_variation(name):
    """The fast kernel (float32, one vectorized loop per variation, portable sines, integer
    alias draws) against tests/reference.py (the formulas in float64 with numpy's functions,
    numpy's RNG): the same fractal, so the same picture up to sampling noise."""
    from fractalvid.gen.ifs import class_coefficients, sample_class

    vid = VARIATIONS[name]
    cls = sample_class(np.random.default_rng(5), variations=(name,) if vid else (),
                       linear_fraction=0.0 if vid else 1.0)
    coefs = class_coefficients(cls)[0]
    size = 48
    r = _render(coefs, RenderSettings(resolution=size, chains=64, iterations=1500, burn_in=50),
                variation=vid, frames=1)
    x_min, x_max, y_min, y_max = r.window
    view = (x_min, y_max, size / (x_max - x_min), size / (y_max - y_min))
    ref = tone_map(reference_counts(coefs, view, size, 64, 1500, 50, seed=1, vid=vid)[None])[0]
    corr = np.corrcoef(_blocks(r.frames[0]).ravel(), _blocks(ref).ravel())[0, 1]
    assert corr > 0.97, (name, corr)  # 0.993 or more here; a wrong variation: 0.90 at most


@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=8).filter(lambda v: sum(v) > 1e-6))
@settings(max_examples=200, deadline=None)
def test_alias_table_reproduces_the_probabilities(p):
    p = np.array(p) / np.sum(p)
    n = len(p)
    prob, alias = np.empty(n), np.empty(n, np.int64)
    alias_table(p, prob, alias)
    implied = prob.copy()
    np.add.at(implied, alias, 1.0 - prob)
    np.testing.assert_allclose(implied / n, p, atol=1e-9)


@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=8).filter(lambda v: sum(v) > 1e-6),
       draws=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=50))
@settings(max_examples=200, deadline=None)
def test_the_integer_alias_draw_picks_the_maps_the_alias_method_picks(p, draws):
    """The 32-bit draw z picks slot k = floor(u n) for u the high 16 bits / 2^16, then the
    slot's alias when the low 16 bits / 2^16 reach its probability: the alias method with
    16-bit uniforms, edge cases included (a draw exactly at a threshold, the first and last
    slot)."""
    p = np.array(p) / np.sum(p)
    n = len(p)
    prob, alias = np.empty(n), np.empty(n, np.int64)
    alias_table(p, prob, alias)
    table = np.empty((2, 8), np.int32)
    alias_lanes(prob, alias, table)
    # for each slot, a draw landing on it whose low half sits exactly at its threshold, and one
    # just below
    edges = [(-(-(k << 16) // n) << 16) | min(int(t) - d, 2**16 - 1)
             for k, t in enumerate(table[0, :n]) for d in (0, 1) if int(t) >= 1]
    zs = np.array([*draws, *edges, 0, 2**32 - 1], np.uint32)
    expected = []
    for z in zs.tolist():
        k = int((z >> 16) / 2**16 * n)
        if (z & 0xFFFF) / 2**16 >= prob[k]:
            k = int(alias[k])
        expected.append(k)
    assert draw_maps_of(zs, n, table).tolist() == expected, (prob, alias)


def draw_maps_of(zs, n, table):
    """The maps ``draw_maps`` picks for draws zs [M] uint32 from n maps -> [M] int32."""
    lanes = -(-len(zs) // 8) * 8
    padded = np.zeros(lanes, np.uint32)
    padded[:len(zs)] = zs
    ks = np.zeros(lanes, np.int32)
    draw_maps(padded, np.uint32(n), table, np.zeros(lanes, np.int32),
              np.zeros((2, lanes), np.int32), ks, len(zs))
    return ks[:len(zs)]


def test_the_draws_pick_each_map_as_often_as_its_probability():
    """Over 2^16 consecutive draws of the chain's stream, each map's share is its
    probability to within sampling noise: the hash, the 16-bit slot and the thresholds
    together are unbiased."""
    from fractalvid.gen.chaos import GOLDEN32, hash32

    p = np.array([0.5, 0.3, 0.15, 0.05])
    prob, alias = np.empty(4), np.empty(4, np.int64)
    alias_table(p, prob, alias)
    table = np.empty((2, 8), np.int32)
    alias_lanes(prob, alias, table)
    states = (12345 + int(GOLDEN32) * np.arange(1, 2**16 + 1, dtype=np.uint64)) & 0xFFFFFFFF
    zs = np.array([hash32(np.uint32(s)) for s in states], np.uint32)
    counts = np.bincount(draw_maps_of(zs, 4, table), minlength=4).astype(float)
    share = counts / counts.sum()
    noise = 4 * np.sqrt(p * (1 - p) / counts.sum())
    assert np.all(np.abs(share - p) < noise), (share, p)


def test_box_filter_equals_a_3x3_splat():
    size = 16
    coefs = np.zeros((1, 1, 6))
    coefs[0, 0, 2], coefs[0, 0, 5] = 0.5, 0.5  # every point maps to (0.5, 0.5)
    view = np.array([[0.0, 1.0, size, size, size, size]])
    out = np.zeros((1, size * size), np.int32)
    chaos_histograms(coefs, np.ones((1, 1)), np.ones(1, np.int64), np.zeros(1, np.int64), view,
                     np.zeros(1, np.uint64), 4, 10, 2, True, out)
    img = out.reshape(size, size)
    assert img.sum() == 9 * 4 * 8
    assert np.array_equal(np.argwhere(img > 0).min(0), [7, 7])
    assert np.array_equal(np.argwhere(img > 0).max(0), [9, 9])


def test_escaping_points_restart_and_are_counted():
    expanding = np.array([[3.0, 0, 0.1, 0, 3.0, 0.1], [2.5, 0.1, 0, 0, 2.5, 0]])
    r = _render(expanding)
    assert r.escaped > 0.01
    assert np.all(np.isfinite(r.frames))


def test_trim_box_keeps_the_requested_share():
    occ = np.zeros((20, 20), bool)
    occ[5:15, 5:15] = True
    occ[0, 0] = True  # an outlier is trimmed away
    r0, r1, c0, c1 = trim_box(occ, 0.9)
    kept = occ[r0:r1, c0:c1].sum()
    assert kept >= 0.9 * occ.sum()
    assert (r0, c0) != (0, 0)
    assert trim_box(np.zeros((8, 8), bool), 0.9) == (0, 8, 0, 8)


def _greedy_trim(occ, keep):
    # the rule spelt out: count the four edges afresh, drop the emptiest (ties: top,
    # bottom, left, right) while what stays keeps ``keep`` of the pixels
    r0, r1, c0, c1 = 0, occ.shape[0], 0, occ.shape[1]
    total = int(occ.sum())
    if total == 0:
        return r0, r1, c0, c1
    inside = total
    while r1 - r0 > 1 or c1 - c0 > 1:
        edges = []
        if r1 - r0 > 1:
            edges += [(int(occ[r0, c0:c1].sum()), 0), (int(occ[r1 - 1, c0:c1].sum()), 1)]
        if c1 - c0 > 1:
            edges += [(int(occ[r0:r1, c0].sum()), 2), (int(occ[r0:r1, c1 - 1].sum()), 3)]
        fewest, best = min(edges)
        if inside - fewest < keep * total:
            break
        inside -= fewest
        r0, r1, c0, c1 = (r0 + (best == 0), r1 - (best == 1), c0 + (best == 2),
                          c1 - (best == 3))
    return r0, r1, c0, c1


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0, 1), st.integers(0, 2**32 - 1),
       st.sampled_from([0.0, 0.5, 0.9, 1.0, None]))
def test_trim_box_is_the_greedy_rule(h, w, density, seed, keep):
    rng = np.random.default_rng(seed)
    occ = rng.random((h, w)) < density ** 2
    keep = rng.random() if keep is None else keep
    assert trim_box(occ, keep) == _greedy_trim(occ, keep)


def test_clip_window_is_the_padded_union_of_the_frames():
    occ = np.zeros((2, 12, 12), bool)
    occ[0, 2:4, 2:4] = True  # top-left in frame 0
    occ[1, 8:10, 8:10] = True  # bottom-right in frame 1
    x_min, x_max, y_min, y_max = clip_window(occ, window=6.0, keep=1.0, pad=0.0)
    assert (x_min, x_max, y_min, y_max) == (-4.0, 4.0, -4.0, 4.0)


def test_tone_map_is_log_scaled_to_the_clip_max():
    counts = np.array([[[0, 1], [3, 15]]], np.int32)
    out = tone_map(counts)
    assert out.dtype == np.uint8 and out.max() == 255 and out[0, 0, 0] == 0
    np.testing.assert_allclose(out[0, 0, 1], round(255 * np.log(2) / np.log(16)), atol=1)
    assert tone_map(np.zeros((2, 3, 3), np.int32)).max() == 0


@settings(max_examples=60, deadline=None)
@given(peak=st.one_of(st.integers(1, 300), st.integers(1, 2**31 - 1)), seed=st.integers(0, 99))
def test_tone_map_levels_are_the_exact_integer_thresholds(peak, seed):
    """float32 only speeds the tone map up: each level is the number of thresholds the count
    reaches, so numpy builds and GPUs that round log1p differently give the same frames."""
    from fractalvid.gen.tonemap import level_thresholds

    rng = np.random.default_rng(seed)
    thresholds = level_thresholds(peak)
    # counts at, just below and just above every threshold, plus random ones
    near = np.concatenate([thresholds - 1, thresholds, thresholds + 1, rng.integers(0, peak, 500)])
    counts = np.clip(np.append(near, peak), 0, peak).astype(np.int32)[None, None]
    out = tone_map(counts)
    np.testing.assert_array_equal(out, np.searchsorted(thresholds, counts, side="right"))
    order = np.argsort(counts.ravel(), kind="stable")
    assert (np.diff(out.ravel()[order].astype(int)) >= 0).all()  # brighter for more points
    assert out.ravel()[-1] == 255


@settings(max_examples=80, deadline=None)
@given(peak=st.one_of(st.integers(1, 400), st.integers(2, 3000).map(lambda k: k * k - 1),
                      st.integers(1, 2**40)))
def test_level_thresholds_are_the_math_library_ceilings(peak):
    """The thresholds are ceil(expm1((L - 0.5) log1p(peak) / 255)) by the math library, one
    level at a time, whatever numpy's expm1 rounds to: at peak k^2 - 1 the middle level's
    value is the integer k - 1, which numpy's expm1 may put one ulp above (peak 8: 3, not 2).
    """
    import math

    from fractalvid.gen.tonemap import level_table, level_thresholds

    scale = math.log1p(peak) / 255.0
    want = [math.ceil(math.expm1((level - 0.5) * scale)) for level in range(1, 256)]
    got = level_thresholds.__wrapped__(peak)  # not a cached copy
    assert got.dtype == np.int64 and got.tolist() == want
    if peak <= 100_000:  # the table: each count's number of thresholds at or below it
        np.testing.assert_array_equal(
            level_table(peak), np.searchsorted(want, np.arange(peak + 1), side="right"))


def test_render_is_deterministic_and_seeded():
    a = _render(SIERPINSKI, seed=1).frames
    b = _render(SIERPINSKI, seed=1).frames
    c = _render(SIERPINSKI, seed=2).frames
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batching_does_not_change_a_clip():
    rng = np.random.default_rng(9)
    from fractalvid.gen.ifs import class_coefficients, sample_class

    jobs = [RenderJob(class_coefficients(c), c.variation, 100 + i)
            for i, c in enumerate(sample_class(rng) for _ in range(3))]
    together = CpuRenderer().render(jobs, SMALL)
    alone = [CpuRenderer().render([j], SMALL)[0] for j in jobs]
    for t, a in zip(together, alone):
        assert np.array_equal(t.frames, a.frames)
        assert t.window == a.window


def test_passes_of_whole_clips_render_what_one_pass_renders():
    """A full pass bounded to a few clips' counts (large frames) gives the same frames."""
    from fractalvid.gen.ifs import class_coefficients, sample_class
    from fractalvid.gen.render import _cpu_histograms, render_batch

    rng = np.random.default_rng(4)
    jobs = [RenderJob(class_coefficients(c), c.variation, 50 + i)
            for i, c in enumerate(sample_class(rng, frames=(n, n)) for n in (3, 4, 5, 6))]
    calls = []

    def counted(*args):
        calls.append(len(args[0]))
        return _cpu_histograms(*args)

    one = render_batch(jobs, SMALL, counted, np)
    frame = SMALL.resolution**2
    for limit, frames in ((None, [18]), (6 * frame, [3, 4, 5, 6]), (12 * frame, [12, 6])):
        calls.clear()
        split = render_batch(jobs, SMALL, counted, np, limit)
        assert calls[1:] == frames  # calls[0] is the coarse pass, always one
        for a, b in zip(one, split, strict=True):
            assert np.array_equal(a.frames, b.frames) and a.escaped == b.escaped


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=20), limit=st.integers(1, 200))
def test_passes_hold_whole_clips_in_order_within_the_limit(lengths, limit):
    from fractalvid.gen.render import _passes

    passes = _passes(lengths, 1, limit)
    assert [a for a, _ in passes] == [0] + [b for _, b in passes[:-1]]
    assert passes[-1][1] == len(lengths) and all(a < b for a, b in passes)
    for a, b in passes:  # over the limit only as a single clip
        assert sum(lengths[a:b]) <= limit or b == a + 1
    for a, b in passes[:-1]:  # and never split early
        assert sum(lengths[a : b + 1]) > limit


def test_tone_map_in_chunks_maps_as_in_one(monkeypatch):
    from fractalvid.gen import tonemap

    counts = np.random.default_rng(2).integers(0, 5000, (7, 20, 20)).astype(np.int32)
    whole = tone_map(counts)
    monkeypatch.setattr(tonemap, "CHUNK_PIXELS", 3 * 400 - 1)  # two frames a chunk
    assert np.array_equal(tone_map(counts), whole)


def test_two_threads_render_what_one_thread_renders():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here (NUMBA_NUM_THREADS=1)")
    before = numba.get_num_threads()
    jobs = [RenderJob(np.repeat(SIERPINSKI[None], 5, axis=0), 0, seed) for seed in (7, 8)]
    try:
        numba.set_num_threads(2)
        two = CpuRenderer().render(jobs, SMALL)
        numba.set_num_threads(1)
        one = CpuRenderer().render(jobs, SMALL)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two):
        assert np.array_equal(a.frames, b.frames) and a.window == b.window


# Where variations divide by zero, overflow or hit a pole: the origin (1/r), float32's
# smallest and largest magnitudes, tan's poles, and the escape bound itself.
EXTREMES = np.array([0.0, 1e-45, -1e-38, np.pi / 2, -np.pi / 2, 1.0, -9.99e9, 1e10, 3e38,
                     -3e38], np.float32)


@pytest.mark.parametrize("name", sorted(VARIATIONS))
def test_no_variation_raises_on_extreme_points(name):
    """At its singular points a variation returns (numba's numpy error model: no exception
    from inside the chaos game), and every point it makes that is not finite is one the escape
    test catches, so its chain restarts rather than carrying NaN."""
    from fractalvid.gen.chaos import escaped
    from fractalvid.gen.variations import apply_variations

    x, y, b, c = (a.ravel() for a in np.meshgrid(EXTREMES, EXTREMES, [0, -1e5], [0, 2.5]))
    e, f = c.copy(), b.copy()
    r1 = np.resize(np.array([0.0, 0.5, 0.999], np.float32), x.size)
    xs, ys = x.astype(np.float32), y.astype(np.float32)
    apply_variations(VARIATIONS[name], xs, ys, b.astype(np.float32), c.astype(np.float32),
                     e.astype(np.float32), f.astype(np.float32), r1, r1[::-1].copy(), x.size)
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    assert all(escaped(xs[i], ys[i]) for i in np.flatnonzero(bad))
    assert all(escaped(np.float32(v), np.float32(0)) and escaped(np.float32(0), np.float32(v))
               for v in (np.nan, np.inf, -np.inf, 1e10, -2e10))


def test_escaped_chains_restart_inside_the_square_and_keep_drawing():
    """A map that throws every point past the escape bound: (nearly) every step restarts, and
    the restarted points, uniform over [-1, 1]^2, light the whole frame."""
    far = np.array([[1e12, 0, 0, 0, 1e12, 0]])
    r = _render(far, RenderSettings(resolution=16, chains=8, iterations=400, burn_in=2))
    assert r.escaped > 0.99
    assert (r.frames > 0).mean() > 0.9
    x_min, x_max, y_min, y_max = r.window
    assert -1.3 < x_min < -0.9 and 0.9 < x_max < 1.3 and -1.3 < y_min < -0.9 < 0.9 < y_max < 1.3


@given(h=st.integers(1, 12), w=st.integers(1, 90), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_the_box_filter_is_the_3x3_splat(h, w, seed):
    """_box3 (separable sums, in place) against the 3x3 neighbourhood sum written out, any size
    (rows long enough for the vector loops and their remainders)."""
    from fractalvid.gen.chaos import _box3

    counts = np.random.default_rng(seed).integers(0, 1000, (h, w)).astype(np.int32)
    padded = np.pad(counts.astype(np.int64), 1)
    want = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))
    got = counts.ravel().copy()
    _box3(got, h, w)  # in place
    np.testing.assert_array_equal(got.reshape(h, w), want)


@given(peak=st.integers(1, 3_000_000), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_the_level_table_gives_the_levels_the_float_path_gives(peak, seed):
    """tone_map looks levels up in a table up to LUT_PEAK; above, float32 finds them. Both
    must give every count the same level, counts at and beside each threshold included."""
    import math

    from fractalvid.gen.tonemap import _levels, level_thresholds

    th = level_thresholds(peak)
    edges = np.clip(np.concatenate([th - 1, th, th + 1, [0, peak]]), 0, peak)
    rng = np.random.default_rng(seed)
    counts = np.concatenate([edges, rng.integers(0, peak + 1, 500)]).astype(np.int32)
    counts = counts.reshape(1, 1, -1)
    scale = np.float32(255.0 / math.log1p(peak))
    by_float = _levels(counts, scale, th.astype(np.int32), np)
    np.testing.assert_array_equal(tone_map(counts), by_float)

"""Generators: the paper's baselines (perlin, dead leaves, octopus) beside fractals, behind one
interface; each makes labeled and unlabeled sets that verify, move, and stream as offline."""

import json

import numba
import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fractalvid import ClipStream, build_config
from fractalvid.gen.generators import GENERATORS
from fractalvid.gen.paint import blur, bounds, outline, paint_shapes
from fractalvid.gen.perlin import perlin_frames
from fractalvid.pipelines.config import ConfigError

from outputs import digests, generate, raw_frames, small_args

BASELINES = ("perlin", "dead_leaves", "octopus")
SMALL = dict(classes=3, train_per_class=3, val_per_class=1, shard_size=4, resolution=64)


@pytest.fixture(scope="module", params=BASELINES)
def made(request, tmp_path_factory):
    """(generator, labeled raw set, unlabeled raw set), compose on."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    labeled = generate(root / "labeled", small_args(generator=name, codec="raw", **SMALL))
    unlabeled = generate(root / "unlabeled", small_args(generator=name, codec="raw",
                                                        labels="false", **SMALL))
    return name, labeled, unlabeled


def test_each_baseline_makes_sets_that_verify_deep(made, cli):
    name, labeled, unlabeled = made
    for out in (labeled, unlabeled):
        result = cli("verify", "--deep", out)
        assert result.exit_code == 0, result.output
        dataset = json.loads((out / "dataset.json").read_text())
        assert dataset["config"]["generator"] == name
        card = (out / "README.md").read_text()
        assert GENERATORS[name].title in card and "moving IFS fractal" not in card
        assert (out / "preview.png").stat().st_size > 0
        # the fractal screen's thresholds do not judge other kinds (noise covers the canvas)
        assert "degenerate clips" not in card


def test_stats_of_a_baseline_name_its_generator_and_no_degenerate_rate(made, cli):
    name, labeled, _ = made
    result = cli("stats", "--json", labeled)
    figures = json.loads(result.output)
    assert figures["generator"] == name and figures["degenerate"] is None
    assert figures["clips"] == 12 and "degenerate" not in cli("stats", labeled).output


def test_each_baseline_moves_and_has_its_channels(made):
    name, labeled, unlabeled = made
    channels = GENERATORS[name].channels
    for out in (labeled, unlabeled):
        clips = raw_frames(out)
        assert len(clips) == 12
        for frames in clips.values():
            assert frames.ndim == (4 if channels == 3 else 3)
            assert 18 <= frames.shape[0] <= 20 and frames.shape[1:3] == (64, 64)
            step = np.abs(np.diff(frames.astype(np.int16), axis=0))
            assert (step.reshape(len(step), -1).max(axis=1) > 0).all()  # every frame moves
            assert step.mean() > 0.1
        rows = pq.read_table(out / "clips.parquet").to_pylist()
        assert all(r["channels"] == channels and r["motion"] > 0.0004 for r in rows)


def test_each_baseline_streams_the_offline_clips_key_by_key(made):
    name, labeled, unlabeled = made
    for out, labels in ((labeled, "true"), (unlabeled, "false")):
        cfg = build_config("tiny", {"generator": name, "codec": "raw", "labels": labels,
                                    **{k: str(v) for k, v in SMALL.items()}})
        offline = raw_frames(out)
        seen = 0
        for split in ("train", "val"):
            for frames, label, meta in ClipStream(cfg, split=split):
                np.testing.assert_array_equal(frames, offline[meta["key"]])
                assert label == (meta["class_id"] if labels == "true" else None)
                seen += 1
        assert seen == len(offline)


def test_labeled_classes_share_their_parameters_and_instances_differ(made):
    name, labeled, _ = made
    rows = pq.read_table(labeled / "clips.parquet").to_pylist()
    classes = pq.read_table(labeled / "classes.parquet").to_pylist()
    assert [c["class_id"] for c in classes] == [0, 1, 2]
    clips = raw_frames(labeled)
    by_class = {}
    for r in rows:
        by_class.setdefault(r["class_id"], []).append(r)
    for cid, members in by_class.items():
        if name == "perlin":  # one frequency pair per class, as classes.parquet says
            assert {m["frequency"] for m in members} == {classes[cid]["frequency"]}
        if name == "octopus":
            assert {m["n_limbs"] for m in members} == {classes[cid]["n_limbs"]}
        keys = [m["key"] for m in members]
        assert not np.array_equal(clips[keys[0]], clips[keys[1]])


def test_a_baseline_set_is_the_same_bytes_whatever_the_workers(tmp_path):
    args = small_args(generator="dead_leaves", **SMALL)
    one = generate(tmp_path / "one", args)
    from click.testing import CliRunner

    from fractalvid.pipelines.cli import main

    result = CliRunner().invoke(main, ["generate", "--out", str(tmp_path / "two"), *args,
                                       "--quiet", "--workers", "2", "--shards", "1:3"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["generate", "--out", str(tmp_path / "two"), *args,
                                       "--quiet", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert digests(one) == digests(tmp_path / "two")


def test_compose_off_gives_the_renders_as_drawn(tmp_path):
    """Without the compose stage a perlin clip spans the noise's grey levels on a full canvas
    (nothing black around a placed object)."""
    out = generate(tmp_path / "p", small_args(generator="perlin", codec="raw", augment="false",
                                              **SMALL))
    for frames in raw_frames(out).values():
        assert frames.min() > 0 and frames.max() < 255 and frames.std() > 5


@pytest.mark.parametrize("args, says", [
    (["--set", "generator=waves"], "generator=waves: must be one of fractal, perlin"),
    (["--set", "generator=perlin", "--set", "chains=64"],
     "chains: a key of the fractal generator; this config's generator is perlin"),
    (["--set", "octopus_perturbation=0.1"],
     "octopus_perturbation: a key of the octopus generator; this config's generator is "
     "fractal"),
    (["--set", "generator=dead_leaves", "--set", "color=true"],
     "color=true: dead_leaves clips are RGB already"),
    (["--set", "generator=perlin", "--set", "classes=300"],
     "classes=300: perlin has 256 classes"),
    (["--set", "generator=octopus", "--backend", "gpu"],
     "--backend gpu: the octopus generator renders on the CPU only"),
])
def test_bad_generator_input_is_one_line_and_exit_2_before_any_work(cli, tmp_path, args, says):
    out = tmp_path / "out"
    result = cli("generate", "--out", out, "--quiet", *args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_fractal_config_keeps_the_fingerprint_and_keys_of_before_generators():
    """0.3 made the tiny set with fingerprint 3298d2633283734e; the generator key is left out
    at its default so such data sets resume, and their config lists no baseline's keys."""
    cfg = build_config("tiny")
    assert cfg.fingerprint() == "3298d2633283734e"
    assert "generator" not in cfg.to_dict() and "perlin_frequencies" not in cfg.to_dict()
    perlin = build_config("paper", {"generator": "perlin", "classes": 256})
    assert perlin.to_dict()["generator"] == "perlin" and "chains" not in perlin.to_dict()
    assert perlin.resolution == 256  # the preset's common keys still apply
    assert build_config(None, base=perlin.to_dict()) == perlin  # dataset.json round-trips


def test_a_config_built_in_python_refuses_another_generators_key():
    from fractalvid.pipelines.config import Config

    with pytest.raises(ConfigError, match="chains: a key of the fractal generator"):
        Config(generator="octopus", chains=7)


def test_plan_estimates_each_generator():
    from fractalvid.pipelines.report import format_report, plan_report

    for name in GENERATORS:
        report = plan_report(build_config("paper", {"generator": name, "classes": 200}))
        assert report["generator"] == name and report["estimated_core_hours"] > 0
        lines = format_report(report)
        assert any(line.startswith("points") for line in lines) == (name == "fractal")


# Kernels against slow, plain references.

def slow_shapes(size, centers, radius, sides, rotation, colors):
    """The shapes painted pixel by pixel: inside when the pixel centre is in the circle, or on
    the inner side of every edge of the regular polygon."""
    out = np.zeros((size, size, 3), np.uint8)
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    for (cx, cy), r, n, rot, c in zip(centers, radius, sides, rotation, colors):
        dx, dy = xs - cx, ys - cy
        if n < 3:
            inside = dx * dx + dy * dy <= r * r
        else:
            corners = [(cx + r * np.cos(rot + 2 * np.pi * k / n),
                        cy + r * np.sin(rot + 2 * np.pi * k / n)) for k in range(n)]
            inside = np.ones_like(dx, bool)
            for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
                # the polygon winds one way: its interior is on the same side of every edge
                cross = (bx - ax) * (ys - ay) - (by - ay) * (xs - ax)
                inside &= cross >= -1e-9
        out[inside] = c
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 40), st.floats(0, 40), st.floats(1, 15),
                          st.integers(1, 8), st.floats(0, 6.3)), min_size=1, max_size=6),
       st.integers(0, 2**32 - 1))
def test_painted_shapes_match_a_pixel_by_pixel_reference(shapes, seed):
    rng = np.random.default_rng(seed)
    centers = np.array([[s[0], s[1]] for s in shapes])
    radius = np.array([s[2] for s in shapes])
    sides = np.array([s[3] for s in shapes], np.int64)
    rotation = np.array([s[4] for s in shapes])
    colors = rng.integers(1, 256, (len(shapes), 3)).astype(np.uint8)
    out = np.zeros((1, 40, 40, 3), np.uint8)
    paint_shapes(out, centers[None], radius, sides, rotation, colors, False)
    want = slow_shapes(40, centers, radius, sides, rotation, colors)
    # pixels whose centre lies on an edge may go either way: at most a few per shape
    assert (out[0] != want).any(axis=2).sum() <= 2 * len(shapes)


@numba.njit(cache=False)
def every_pixel(out, centers, radius, sides, rotation, colors, only_on):
    """paint_shapes' rule, one pixel at a time over each shape's box."""
    for t in range(out.shape[0]):
        for s in range(centers.shape[1]):
            cx, cy, r, n = centers[t, s, 0], centers[t, s, 1], radius[s], sides[s]
            m = max(n, 3)
            apothem = r * np.cos(np.pi / m)
            for y in range(max(0, int(np.floor(cy - r))),
                           min(out.shape[1] - 1, int(np.ceil(cy + r))) + 1):
                for x in range(max(0, int(np.floor(cx - r))),
                               min(out.shape[2] - 1, int(np.ceil(cx + r))) + 1):
                    dx, dy = x + 0.5 - cx, y + 0.5 - cy
                    inside = dx * dx + dy * dy <= r * r
                    if n >= 3:
                        inside = True
                        for e in range(n):
                            a = rotation[s] + (2 * e + 1) * np.pi / m
                            if dx * np.cos(a) + dy * np.sin(a) > apothem:
                                inside = False
                    if inside and only_on:
                        inside = (out[t, y, x, 0] | out[t, y, x, 1] | out[t, y, x, 2]) > 0
                    if inside:
                        out[t, y, x, :] = colors[s]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shapes=st.integers(1, 12), only_on=st.booleans(),
       big=st.booleans())
@example(seed=95, shapes=12, only_on=False, big=False)  # rows the edge estimate misses
@example(seed=203, shapes=12, only_on=False, big=False)
def test_shapes_paint_row_runs_with_the_pixels_of_a_pixel_by_pixel_test(seed, shapes, only_on,
                                                                         big):
    rng = np.random.default_rng(seed)
    size = 48
    centers = rng.uniform(-15, size + 15, (2, shapes, 2))
    centers[:, ::3] = np.round(centers[:, ::3]) + rng.choice([0.0, 0.5], (2, 1, 2))  # ties
    radius = np.round(rng.uniform(0.2, 30.0 if big else 4.0, shapes) * 2) / 2
    sides = rng.integers(0, 9, shapes)
    rotation = rng.choice([0.0, np.pi / 2, np.pi / 4, 1.0], shapes) + rng.uniform(0, 7, shapes) * (
        rng.random(shapes) < 0.5)
    colors = rng.integers(1, 256, (shapes, 3)).astype(np.uint8)
    start = (rng.random((2, size, size, 3)) < 0.5).astype(np.uint8) * 9
    got, want = start.copy(), start.copy()
    paint_shapes(got, centers, radius, sides, rotation, colors, only_on)
    every_pixel(want, centers, radius, sides, rotation, colors, only_on)
    np.testing.assert_array_equal(got, want)


def test_recolouring_paints_only_on_the_stroke():
    out = np.zeros((1, 32, 32, 3), np.uint8)
    out[0, :, :16] = 7
    paint_shapes(out, np.array([[[16.0, 16.0]]]), np.array([10.0]), np.array([0]),
                 np.array([0.0]), np.array([[200, 0, 0]], np.uint8), True)
    assert (out[0, :, 16:] == 0).all() and (out[0, :, :16, 0] == 200).sum() > 100


def slow_perlin(grad, fx, fy, ft, t_n, h, w):
    def fade(t):
        return t * t * t * (t * (t * 6 - 15) + 10)

    out = np.empty((t_n, h, w))
    for t, y, x in np.ndindex(t_n, h, w):
        p = np.array([x * fx / w, y * fy / h, t * ft / t_n])
        cell = np.minimum(p.astype(int), [fx - 1, fy - 1, ft - 1])
        d = p - cell
        total = 0.0
        for ox, oy, oz in np.ndindex(2, 2, 2):
            o = np.array([ox, oy, oz])
            g = grad[cell[2] + oz, cell[1] + oy, cell[0] + ox].astype(np.float64)
            weight = np.prod(np.where(o == 1, fade(d), 1 - fade(d)))
            total += weight * np.dot(d - o, g)
        out[t, y, x] = total
    return out


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_perlin_kernel_matches_the_textbook_formula(fx, fy, ft, seed):
    rng = np.random.default_rng(seed)
    grad = rng.normal(size=(ft + 1, fy + 1, fx + 1, 3))
    grad = (grad / np.linalg.norm(grad, axis=-1, keepdims=True)).astype(np.float32)
    out = np.empty((3, 12, 10), np.uint8)
    perlin_frames(grad, fx, fy, ft, out)
    want = np.clip(np.floor((slow_perlin(grad, fx, fy, ft, 3, 12, 10) + 1) / 2 * 255 + 0.5),
                   0, 255)
    assert np.abs(out.astype(int) - want).max() <= 1
    # the noise is continuous: neighbours differ little at low frequency
    if fx <= 2 and fy <= 2:
        assert np.abs(np.diff(out.astype(int), axis=2)).max() < 60


def test_blur_keeps_the_mass_and_spreads_it_like_a_gaussian():
    f = np.zeros((1, 101, 101), np.float32)
    f[0, 50, 50] = 1.0
    blur(f, 4, 2)
    assert f.sum() == pytest.approx(1.0, abs=1e-5)
    ys, xs = np.mgrid[0:101, 0:101] - 50
    var_x, var_y = (f[0] * xs**2).sum(), (f[0] * ys**2).sum()
    assert var_x == pytest.approx(3 * (9**2 - 1) / 12, rel=1e-3)  # three boxes of width 9
    assert var_y == pytest.approx(3 * (5**2 - 1) / 12, rel=1e-3)


def _box_down(a: np.ndarray, r: int) -> np.ndarray:
    """Textbook running box mean down the columns of a [H, W] float32, zero outside."""
    acc = np.zeros(a.shape[1], np.float32)
    for y in range(min(r, a.shape[0])):
        acc += a[y]
    out = np.empty_like(a)
    for y in range(a.shape[0]):
        if y + r < a.shape[0]:
            acc += a[y + r]
        if y - r - 1 >= 0:
            acc -= a[y - r - 1]
        out[y] = acc * np.float32(1.0 / (2 * r + 1))
    return out


@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 5), h=st.integers(3, 40), w=st.integers(3, 40),
       rx=st.integers(1, 9), ry=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_blur_is_three_box_means_along_rows_then_columns(t, h, w, rx, ry, seed):
    frames = np.random.default_rng(seed).random((t, h, w), dtype=np.float32) * 255
    want = frames.copy()
    for k in range(t):
        a = want[k].T.copy()
        for _ in range(3):
            a = _box_down(a, rx)
        a = a.T.copy()
        for _ in range(3):
            a = _box_down(a, ry)
        want[k] = a
    blur(frames, rx, ry)
    np.testing.assert_array_equal(frames, want)


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 30), st.integers(1, 3)),
       seed=st.integers(0, 2**16))
def test_bounds_are_the_least_and_greatest_of_each_coordinate(shape, seed):
    points = np.random.default_rng(seed).normal(size=shape) * 100
    lo, hi = bounds(points)
    np.testing.assert_array_equal(lo, points.min(axis=(0, 1)))
    np.testing.assert_array_equal(hi, points.max(axis=(0, 1)))


def test_outline_is_dilation_minus_erosion():
    rng = np.random.default_rng(3)
    frames = (rng.random((2, 24, 24, 3)) < 0.3).astype(np.uint8) * 200
    kh, kw = np.array([3, 2]), np.array([4, 5])
    got = frames.copy()
    outline(got, kh, kw)
    for t in range(2):
        pad = np.pad(frames[t].astype(int), ((kh[t], kh[t]), (kw[t], kw[t]), (0, 0)),
                     constant_values=-1)
        hi = np.full(frames[t].shape, -1)
        lo = np.full(frames[t].shape, 999)
        for dy in range(kh[t]):
            for dx in range(kw[t]):
                win = pad[kh[t] - kh[t] // 2 + dy: kh[t] - kh[t] // 2 + dy + 24,
                          kw[t] - kw[t] // 2 + dx: kw[t] - kw[t] // 2 + dx + 24]
                hi = np.maximum(hi, win)
                lo = np.where(win >= 0, np.minimum(lo, win), lo)
        np.testing.assert_array_equal(got[t], (hi - lo).astype(np.uint8))


def test_dead_leaves_instances_drop_about_a_fifth_of_the_shapes():
    from fractalvid.gen.dead_leaves import GENERATOR, class_for
    from fractalvid.pipelines.plan import clip_specs, plan_shards

    cfg = build_config("tiny", {"generator": "dead_leaves", "classes": "1",
                                "train_per_class": "200", "shard_size": "200"})
    full = class_for(cfg, 0).params.paths.shape[1]
    drawn = GENERATOR.draw(cfg, clip_specs(cfg, plan_shards(cfg)[0]))
    kept = np.array([len(d.params.motion) for d in drawn])
    assert 15 <= full <= 30
    assert kept.mean() / full == pytest.approx(0.8, abs=0.05)


def test_octopus_draws_its_optional_parts_about_as_often_as_the_reference():
    from fractalvid.gen.octopus import GENERATOR
    from fractalvid.pipelines.plan import clip_specs, plan_shards

    cfg = build_config("tiny", {"generator": "octopus", "labels": "false", "classes": "400",
                                "train_per_class": "1", "val_per_class": "0",
                                "shard_size": "400"})
    strokes = [d.params[1] for d in GENERATOR.draw(cfg, clip_specs(cfg, plan_shards(cfg)[0]))]
    share = {name: np.mean([getattr(s, name) is not None for s in strokes])
             for name in ("embed", "recolor", "outline")}
    assert share["embed"] == pytest.approx(0.8, abs=0.06)
    assert share["recolor"] == pytest.approx(0.8, abs=0.06)
    assert share["outline"] == pytest.approx(0.4, abs=0.07)

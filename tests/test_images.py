"""Still-image data sets (media=image): presets, codecs, readers, the stream, instances."""

import io
import json
import os
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.generators import GENERATORS
from fractalvid.gen.ifs import class_coefficients, sample_class
from fractalvid.gen.instance import FLIPS, fractaldb_instance, svd_instance
from fractalvid.gen.still import blur, texture
from fractalvid.pipelines.api import generate, verify
from fractalvid.pipelines.config import build_config
from fractalvid.pipelines.stream import ClipStream
from fractalvid.shards.reader import ClipReader, shard_urls

SMALL = {"classes": 2, "train_per_class": 4, "val_per_class": 1, "shard_size": 4}


def _make(tmp_path_factory, name, preset="tiny", **keys):
    out = tmp_path_factory.mktemp(name)
    cfg = build_config(preset, {**SMALL, **keys})
    generate(cfg, out, workers=1)
    return cfg, out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The images preset, small: 224 px RGB PNGs with texture, blur and several objects."""
    return _make(tmp_path_factory, "images", "images", objects=(1, 3))


@pytest.fixture(scope="module")
def fractaldb(tmp_path_factory):
    return _make(tmp_path_factory, "fdb", "fractaldb-1k", val_per_class=0, resolution=128)


def _members(out, split="train"):
    found = {}
    for url in shard_urls(out, split=split):
        with tarfile.open(url) as tar:
            for m in tar.getmembers():
                found[m.name] = tar.extractfile(m).read()
    return found


@pytest.mark.parametrize("which", ["images", "fractaldb"])
def test_the_presets_make_image_sets_that_verify_deep(which, request):
    cfg, out = request.getfixturevalue(which)
    assert verify(out, deep=True) == []
    names = _members(out)
    pngs = [n for n in names if n.endswith(".png")]
    assert len(pngs) == cfg.train_clips and not any(n.endswith(".mp4") for n in names)
    meta = json.loads(names[pngs[0].replace(".png", ".json")])
    assert meta["frames"] == 1 and meta["media"] == "image"
    card = (out / "README.md").read_text()
    assert "still images" in card and "preview.gif" not in card
    assert (out / "preview.png").exists() and not (out / "preview.gif").exists()


def test_webdataset_reads_the_images_with_its_own_decoder(images):
    import webdataset as wds

    cfg, out = images
    ds = wds.WebDataset(shard_urls(out, split="train"), shardshuffle=False).decode("rgb8")
    seen = list(ds)
    assert len(seen) == cfg.train_clips
    for s in seen:
        assert s["png"].shape == (224, 224, 3) and s["png"].dtype == np.uint8
        assert s["png"].std() > 0  # not a blank image


def test_hugging_face_datasets_reads_the_images(fractaldb, tmp_path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    cfg, out = fractaldb
    hf = datasets.load_dataset("webdataset", data_files={"train": shard_urls(out, split="train")},
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert hf.num_rows == cfg.train_clips
    image = hf[0]["png"]  # a PIL image, decoded by datasets itself
    assert image.size == (128, 128) and np.asarray(image).max() > 0
    assert sorted(set(hf["cls"])) == [0, 1]


def test_the_reader_yields_images_and_the_stream_the_same_ones(images):
    cfg, out = images
    offline = {m["key"]: (f, y) for f, y, m in ClipReader(out, split="train")}
    assert len(offline) == cfg.train_clips
    streamed = 0
    for frames, label, meta in ClipStream(cfg, split="train"):
        assert frames.shape == (224, 224, 3)
        expected, y = offline[meta["key"]]
        np.testing.assert_array_equal(frames, expected)  # PNG is lossless
        assert label == y
        streamed += 1
    assert streamed == cfg.train_clips


def test_a_raw_image_set_streams_equal_grey_and_unlabeled(tmp_path):
    cfg = build_config("tiny", {**SMALL, "media": "image", "image_codec": "raw",
                                "labels": False, "objects": (2, 2)})
    generate(cfg, tmp_path, workers=1)
    assert verify(tmp_path, deep=True) == []
    offline = {m["key"]: f for f, _, m in ClipReader(tmp_path, split="train")}
    assert all(n.endswith((".npy.zst", ".json")) for n in _members(tmp_path))
    for frames, label, meta in ClipStream(cfg, split="train"):
        assert frames.shape == (128, 128) and label is None
        np.testing.assert_array_equal(frames, offline[meta["key"]])
        assert "objects" in meta["ops"]


def test_jpeg_and_webp_members_decode_close_to_the_stream(tmp_path):
    for codec, ext in (("jpeg", "jpg"), ("webp", "webp")):
        out = tmp_path / codec
        cfg = build_config("tiny", {**SMALL, "media": "image", "image_codec": codec,
                                    "color": True, "image_quality": 95})
        generate(cfg, out, workers=1)
        assert verify(out, deep=True) == []
        assert any(n.endswith("." + ext) for n in _members(out))
        offline = {m["key"]: f for f, _, m in ClipReader(out, split="train")}
        for frames, _, meta in ClipStream(cfg, split="train"):
            error = np.abs(offline[meta["key"]].astype(int) - frames).mean()
            assert error < 6, (codec, error)  # lossy, but the same image


def test_image_sets_do_not_depend_on_the_workers(tmp_path):
    cfg = build_config("images", {**SMALL, "resolution": 64, "objects": (1, 3)})
    for workers in (1, 2):
        generate(cfg, tmp_path / str(workers), workers=workers)
    one, two = _members(tmp_path / "1"), _members(tmp_path / "2")
    assert one.keys() == two.keys() and all(one[k] == two[k] for k in one)


@pytest.mark.parametrize("generator", [g for g in GENERATORS if g != "fractal"])
def test_every_baseline_has_a_still_form(generator):
    cfg = build_config("tiny", {**SMALL, "media": "image", "generator": generator,
                                "resolution": 64})
    frames = [f for f, _, _ in ClipStream(cfg, split="train")]
    assert len(frames) == cfg.train_clips
    assert all(f.shape[:2] == (64, 64) and f.std() > 0 for f in frames)


@pytest.mark.parametrize(
    "setting, named",
    [
        (["image_codec=gif"], "image_codec"),
        (["fps=24"], "media=video"),  # a video-only key on a still
        (["shift_p=0.5"], "media=video"),
        (["image_codec=jpeg", "media=video"], "media=image"),  # a still's key on a video
        (["media=film"], "media"),
        (["image_quality=0"], "image_quality"),
    ],
)
def test_bad_image_input_exits_2_with_one_line_and_writes_nothing(cli, tmp_path, setting,
                                                                   named):
    out = tmp_path / "out"
    sets = [x for s in setting for x in ("--set", s)]
    extra = [] if any(s.startswith("media=") for s in setting) else ["--set", "media=image"]
    result = cli("generate", "--out", out, *extra, *sets)
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0], result.output
    assert not out.exists()


def test_video_configs_leave_out_every_image_key():
    video = build_config("tiny").to_dict()
    image = build_config("tiny", {"media": "image"}).to_dict()
    assert "media" not in video and "image_codec" not in video and "texture_p" not in video
    assert image["media"] == "image" and "fps" not in image and "shift_p" not in image


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), weight=st.sampled_from([0.1, 0.2, 0.4]))
def test_a_fractaldb_instance_scales_one_coefficient_of_every_map_and_flips(seed, weight):
    rng = np.random.default_rng(seed)
    coefs = class_coefficients(sample_class(rng, frames=(1, 1)))
    out = fractaldb_instance(coefs, np.random.default_rng(seed + 1), weight)
    lit = np.abs(coefs[0]) > 1e-9  # a map's zero coefficients say nothing
    ratio = np.where(lit, out[0] / np.where(lit, coefs[0], 1.0), np.nan)  # [N, 6]
    signs = np.sign(ratio)
    flips = [f for f in FLIPS if np.all((signs == f) | ~lit)]
    assert flips  # one flip, the same for every map
    size = np.abs(ratio)
    scaled = [j for j in range(6) if not np.allclose(size[lit[:, j], j], 1.0)]
    assert len(scaled) <= 1  # one coefficient (or none: k = 0) ...
    if scaled:  # ... of every map, by one factor of the five
        column = size[lit[:, scaled[0]], scaled[0]]
        assert np.allclose(column, column[0])
        assert any(np.isclose(column[0], 1 + k * weight) for k in (-2, -1, 1, 2))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_an_svd_instance_changes_one_map_only(seed):
    cls = sample_class(np.random.default_rng(seed), frames=(1, 1))
    moved = svd_instance(cls, np.random.default_rng(seed + 1), 0.2)
    before, after = class_coefficients(cls), class_coefficients(moved)
    changed = [k for k in range(cls.n_maps) if not np.allclose(before[:, k], after[:, k])]
    assert len(changed) <= 1
    assert np.all(moved.sv[..., 0] >= moved.sv[..., 1])


def test_the_texture_is_seeded_in_range_and_rougher_with_roughness():
    a, b = texture(7, 96, 0.5), texture(7, 96, 0.5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (96, 96) and a.dtype == np.float32 and a.min() == 0 and a.max() == 1
    assert not np.array_equal(a, texture(8, 96, 0.5))

    def fine(x):  # energy of pixel-to-pixel steps
        return float(np.abs(np.diff(x, axis=1)).mean())

    assert fine(texture(7, 96, 0.9)) > 1.5 * fine(texture(7, 96, 0.3))


def _plasma(seed: int, size: int, roughness: float) -> np.ndarray:
    """Diamond-square as the textbook writes it, one point at a time, in float32 scalars."""
    f, mask = np.float32, (1 << 64) - 1
    n = 1
    while n + 1 < size:
        n *= 2

    def noise(y, x):  # splitmix64 of (seed, row-major index + 1)
        z = (seed * 0x9E3779B97F4A7C15 + y * (n + 1) + x + 1) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return f((z ^ (z >> 31)) >> 40) * f(1.0 / (1 << 24)) - f(0.5)

    g = np.zeros((n + 1, n + 1), np.float32)
    for y in (0, n):
        for x in (0, n):
            g[y, x] = noise(y, x)
    step, amp = n, f(1.0)
    while step > 1:
        half, amp = step // 2, amp * f(roughness)
        for y in range(half, n, step):
            for x in range(half, n, step):
                corners = (g[y - half, x - half] + g[y - half, x + half] + g[y + half, x - half]
                           + g[y + half, x + half])
                g[y, x] = f(0.25) * corners + amp * noise(y, x)
        for y in range(0, n + 1, half):
            for x in range((y + half) % step, n + 1, step):
                sides = ((-half, 0), (half, 0), (0, -half), (0, half))
                near = [g[y + dy, x + dx] for dy, dx in sides
                        if 0 <= y + dy <= n and 0 <= x + dx <= n]
                total = f(0.0)
                for v in near:
                    total += v
                g[y, x] = total / f(len(near)) + amp * noise(y, x)
        step = half
    corner = g[:size, :size]
    lo, hi = corner.min(), corner.max()
    return (corner - lo) * (f(1.0) / (hi - lo) if hi > lo else f(1.0))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(2, 40), roughness=st.floats(0.05, 1.0))
def test_the_texture_kernel_is_the_textbook_diamond_square(seed, size, roughness):
    np.testing.assert_array_equal(texture(seed, size, roughness), _plasma(seed, size, roughness))


@pytest.mark.parametrize("size, seed", [(130, 3), (224, 11)])
def test_the_texture_kernel_is_the_textbook_diamond_square_at_image_sizes(size, seed):
    """Past the property test's sizes: grids of 257 points a side, at the edge of one (130)
    and at the images preset's 224 px, where the finest level takes its own loops."""
    np.testing.assert_array_equal(texture(seed, size, 0.55), _plasma(seed, size, 0.55))


def test_blur_keeps_the_mean_and_smooths():
    rng = np.random.default_rng(0)
    x = rng.random((1, 32, 32, 3)).astype(np.float32)
    y = blur(x, 1.0)
    assert y.shape == x.shape
    assert abs(float(y.mean()) - float(x.mean())) < 0.01
    assert np.abs(np.diff(y, axis=2)).mean() < 0.5 * np.abs(np.diff(x, axis=2)).mean()


@settings(max_examples=40, deadline=None)
@given(sigma=st.floats(0.2, 2.5), t=st.integers(1, 2), h=st.integers(8, 40),
       w=st.integers(8, 40), rgb=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_the_blur_kernels_give_the_whole_array_sums_bit_for_bit(sigma, t, h, w, rgb, seed):
    """3 to 15 taps: the one-pass kernel of 5 and 7 taps and the tap-by-tap kernel of the
    others add the same products in the same order as the device's whole-array path."""
    shape = (t, h, w, 3) if rgb else (t, h, w)
    x = np.random.default_rng(seed).random(shape).astype(np.float32)
    np.testing.assert_array_equal(blur(x, sigma), blur(x, sigma, _array_module_like_numpy()))


def test_encoded_images_open_in_pillow_at_the_configured_size(images):
    from PIL import Image

    _, out = images
    data = next(v for k, v in _members(out, "val").items() if k.endswith(".png"))
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.size == (224, 224) and im.mode == "RGB"


def test_a_still_gets_the_still_operations_and_none_that_move_in_time():
    cfg = build_config("tiny", {"media": "image", "classes": 4, "train_per_class": 8,
                                "val_per_class": 0, "perspective_p": 1.0, "clone_p": 0.5,
                                "texture_p": 0.5, "blur_p": 0.5, "color": True})
    ops = [set(m["ops"]) for _, _, m in ClipStream(cfg, split="train")]
    seen = set().union(*ops)
    assert {"scale", "perspective", "clone", "texture", "blur", "hue"} <= seen
    assert not seen & {"shift", "pan", "zoom", "shake", "color"}  # stills are coloured by hue
    assert all("perspective" in o and "hue" in o for o in ops)


def _array_module_like_numpy():
    """numpy, seen as another array module (as cupy is): the still operations then take the
    whole-array path the device runs."""
    from types import SimpleNamespace

    return SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})


@pytest.mark.parametrize("color", [False, True])
def test_the_device_path_of_the_still_operations_gives_the_kernels_numbers(color):
    from types import SimpleNamespace

    from fractalvid.gen.still import apply_hue, apply_texture

    other = _array_module_like_numpy()
    rng = np.random.default_rng(1)
    fg = (rng.random((1, 40, 40)) ** 3).astype(np.float32)
    p = {"seed": 5, "roughness": 0.6, "hue": 0.7, "sat": 0.5, "value": 0.8}
    results = []
    for xp in (np, other):
        layers = SimpleNamespace(fg=fg.copy(), bg=None, xp=xp, shape=(1, 40))
        if color:
            apply_hue(layers, p)
        apply_texture(layers, p)
        results.append((layers.fg, blur(layers.fg, 0.8, xp)))
    for here, there in zip(*results):
        np.testing.assert_array_equal(here, there)


def test_show_writes_a_still_as_the_png_the_reader_gives(cli, images, tmp_path):
    from PIL import Image

    _, out = images
    frames, _, meta = next(iter(ClipReader(out, split="train")))
    target = tmp_path / "one.png"
    result = cli("show", out, meta["key"], "--png", target)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(target)), frames)
    assert cli("show", out, meta["key"], "--png", target).exit_code == 2  # never over a file


def test_stats_and_plan_speak_of_images(cli, fractaldb):
    cfg, out = fractaldb
    shown = cli("stats", out).output
    assert f"images: {cfg.train_clips}" in shown and "motion" not in shown
    planned = cli("plan", "--preset", "fractaldb-1k").output
    assert "images       train 1000000, val 0 (still, 362x362)" in planned
    assert "with image_codec=raw" in planned


@settings(max_examples=50, deadline=None)
@given(hue=st.floats(0, 1), span=st.sampled_from([0.25, 1.0]), sat=st.floats(0.3, 1),
       value=st.floats(0.5, 1))
def test_the_hue_table_is_hsv_of_the_grey_level(hue, span, sat, value):
    import colorsys

    from fractalvid.gen.still import STEPS, hue_table

    table = hue_table(hue, span, sat, value)
    for i in (0, 1, STEPS // 3, STEPS // 2, STEPS - 1):
        g = i / (STEPS - 1)
        want = colorsys.hsv_to_rgb((hue + span * g) % 1.0, sat, value * g)
        np.testing.assert_allclose(table[i], want, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_fractaldb_class_is_uniform_coefficients_and_its_svd_rebuilds_them(seed):
    from fractalvid.gen.ifs import sample_fractaldb_class

    cls, coefs = sample_fractaldb_class(np.random.default_rng(seed))
    n = cls.n_maps
    assert 2 <= n <= 7 and coefs.shape == (1, n, 6) and np.abs(coefs).max() <= 1
    for k in range(n):  # A = R(theta) D1 diag(s) R(phi) D2, as classes.parquet records it
        def rot(a):
            return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

        d1, d2 = np.diag([1.0, cls.flips[k, 1]]), np.diag([1.0, cls.flips[k, 3]])
        a = rot(cls.theta[0, k]) @ d1 @ np.diag(cls.sv[0, k]) @ rot(cls.phi[0, k]) @ d2
        np.testing.assert_allclose(a.ravel(), coefs[0, k, [0, 1, 3, 4]], atol=1e-12)
        assert cls.sv[0, k, 0] >= cls.sv[0, k, 1] >= 0


def test_fractaldb_classes_want_fractaldb_instances(cli, tmp_path):
    result = cli("generate", "--out", tmp_path / "x", "--set", "media=image",
                 "--set", "image_class=fractaldb")
    assert result.exit_code == 2 and "needs image_instance=fractaldb" in result.output



@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.5, 1.5, width=32) | st.sampled_from([0.5 / 255, 254.5 / 255]),
                min_size=1, max_size=300))
def test_quantize_rounds_and_clips_as_numpy_does(values):
    from fractalvid.gen.still import quantize

    x = np.array(values, np.float32)
    np.testing.assert_array_equal(quantize(x), np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8))

"""Small real runs of the whole pipeline, read back with webdataset and pyarrow."""

import hashlib
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.shards.codec import decode_mp4
from fractalvid.shards.encode import VideoFormat, encode_mp4, encode_mp4s

from outputs import digests, generate

SMALL = ["--set", "classes=4", "--set", "train_per_class=3", "--set", "val_per_class=1",
         "--set", "shard_size=5", "--set", "resolution=64", "--set", "chains=16",
         "--set", "iterations=600", "--set", "burn_in=20"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("ds") / "tiny", SMALL)


def test_layout_and_dataset_json(dataset):
    names = {p.name for p in dataset.iterdir()}
    for expected in ("dataset.json", "classes.parquet", "clips.parquet", "index.train.json",
                     "index.val.json", "README.md", "preview.png", "train-000000.tar",
                     "train-000002.tar", "val-000000.tar", "train-000000.parquet"):
        assert expected in names
    assert not [n for n in names if n.endswith(".tmp")]
    meta = json.loads((dataset / "dataset.json").read_text())
    assert meta["splits"] == {"train": {"clips": 12, "shards": 3}, "val": {"clips": 4, "shards": 1}}
    for entry in meta["shards"]:
        data = (dataset / entry["url"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    index = json.loads((dataset / "index.train.json").read_text())
    assert index["__kind__"] == "wids-shard-index-v1" and index["wids_version"] == 1
    assert [s["nsamples"] for s in index["shardlist"]] == [5, 5, 2]


def test_webdataset_reads_every_sample_and_labels_match_parquet(dataset):
    clips = pq.read_table(dataset / "clips.parquet").to_pylist()
    by_key = {r["key"]: r for r in clips}
    urls = sorted(str(p) for p in dataset.glob("*.tar"))
    seen = 0
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        assert {"mp4", "cls", "json"} <= set(sample)
        key = sample["__key__"]
        row = by_key[key]
        assert int(sample["cls"].decode()) == row["class_id"]
        meta = json.loads(sample["json"])
        assert meta["class_id"] == row["class_id"] and meta["split"] == row["split"]
        frames = decode_mp4(sample["mp4"])
        assert frames.shape == (row["frames"], 64, 64)
        assert 18 <= frames.shape[0] <= 20
        seen += 1
    assert seen == len(clips) == 16
    assert {r["class_id"] for r in clips} == {0, 1, 2, 3}
    classes = pq.read_table(dataset / "classes.parquet")
    assert classes.num_rows == 4


def test_tar_members_are_sorted_with_fixed_metadata(dataset):
    with tarfile.open(dataset / "train-000000.tar") as tar:
        infos = tar.getmembers()
    names = [i.name for i in infos]
    assert names == sorted(names)
    assert names[:3] == ["000000000.cls", "000000000.json", "000000000.mp4"]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.mode) for i in infos} == {(0, 0, 0, "", 0o644)}


def test_clips_of_a_class_share_an_ifs_but_differ(dataset):
    clips = pq.read_table(dataset / "clips.parquet").to_pylist()
    same = [r for r in clips if r["class_id"] == 1]
    assert len({(r["variation"], r["n_maps"], r["motion_curves"]) for r in same}) == 1
    with tarfile.open(dataset / "train-000000.tar") as tar:
        a = tar.extractfile(f"{same[0]['key']}.mp4").read()
    with tarfile.open(dataset / f"{same[1]['shard']}.tar") as tar:
        b = tar.extractfile(f"{same[1]['key']}.mp4").read()
    assert a != b


def test_same_seed_same_bytes_other_seed_other_clips(dataset, cli, tmp_path):
    again = tmp_path / "again"
    assert cli("generate", "--out", again, *SMALL, "--workers", "2", "--quiet").exit_code == 0
    assert digests(again) == digests(dataset)
    other = tmp_path / "other"
    assert cli("generate", "--out", other, *SMALL, "--set", "seed=1", "--quiet").exit_code == 0
    with tarfile.open(dataset / "train-000000.tar") as t1, \
         tarfile.open(other / "train-000000.tar") as t2:
        assert t1.extractfile("000000000.mp4").read() != t2.extractfile("000000000.mp4").read()


def test_single_shard_regenerates_identically(dataset, cli, tmp_path):
    part = tmp_path / "part"
    result = cli("generate", "--out", part, *SMALL, "--shards", "1:2", "--quiet")
    assert result.exit_code == 0
    assert (part / "train-000001.tar").read_bytes() == (dataset / "train-000001.tar").read_bytes()
    assert not (part / "train-000000.tar").exists()
    assert not (part / "dataset.json").exists()  # a partial run does not finalize


def test_unlabeled_mode_has_no_cls_and_a_fresh_ifs_per_clip(cli, tmp_path):
    out = tmp_path / "unlabeled"
    result = cli("generate", "--out", out, *SMALL, "--set", "labels=false", "--quiet")
    assert result.exit_code == 0
    with tarfile.open(out / "train-000000.tar") as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith(".cls")]
    clips = pq.read_table(out / "clips.parquet").to_pylist()
    assert all(r["class_id"] is None for r in clips)
    assert len({(r["n_maps"], r["motion_curves"], r["variation"]) for r in clips}) > 4


def test_verify_passes_then_catches_a_flipped_byte(dataset, cli, tmp_path):
    from outputs import damaged_copy

    assert cli("verify", dataset).exit_code == 0
    copy = damaged_copy(dataset, tmp_path / "copy", "train-000001.tar")
    result = cli("verify", copy)
    assert result.exit_code == 1 and "train-000001.tar" in result.output


def test_preview_is_a_png_with_a_row_per_class(dataset):
    """Row i holds 6 frames, spread over the clip, of the first clip of class i."""
    import io

    from PIL import Image

    from fractalvid.shards.reader import ClipReader

    png = np.array(Image.open(io.BytesIO((dataset / "preview.png").read_bytes())))
    left = png.shape[1] - (6 * 64 + 5 * 2)  # the strip of class ids
    assert png.shape[0] == 4 * 64 + 3 * 2 and 0 < left < 64
    first = {}
    for split in ("train", "val"):
        for frames, label, _ in ClipReader(dataset, split=split):
            first.setdefault(label, frames)
    for cls in range(4):
        frames = first[cls]
        idx = np.linspace(0, len(frames) - 1, 6).round().astype(int)
        for j, i in enumerate(idx):
            tile = png[cls * 66: cls * 66 + 64, left + j * 66: left + j * 66 + 64]
            np.testing.assert_array_equal(tile, frames[i])


def test_mp4_is_h264_and_bit_exact():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (5, 32, 48), dtype=np.uint8)
    a = encode_mp4(frames, VideoFormat())
    assert a == encode_mp4(frames, VideoFormat())
    assert b"avc1" in a[:4096] or b"avc1" in a
    back = decode_mp4(a)
    assert back.shape == (5, 32, 48)
    with pytest.raises(ValueError, match="even"):
        encode_mp4(frames[:, :31], VideoFormat())


clip_shapes = st.tuples(st.integers(1, 6), st.sampled_from([16, 32]), st.sampled_from([16, 48]),
                        st.booleans())


@settings(max_examples=10, deadline=None)
@given(st.lists(clip_shapes, min_size=1, max_size=5), st.sampled_from(["h264", "h265"]),
       st.integers(0, 2**32 - 1))
def test_a_group_encodes_each_clip_as_it_would_alone(shapes, codec, seed):
    """One ffmpeg process for several clips: each clip's bytes are those of its own process."""
    if codec == "h265":  # square, as clips are: the bundled x265 corrupts its heap on some
        shapes = [(t, h, h, rgb) for t, h, _, rgb in shapes]  # small oblong frames (24x48)
    rng = np.random.default_rng(seed)
    clips = [rng.integers(0, 256, (t, h, w, 3) if rgb else (t, h, w), dtype=np.uint8)
             for t, h, w, rgb in shapes]
    fmt = VideoFormat(codec=codec)
    assert encode_mp4s(clips, fmt) == [encode_mp4(c, fmt) for c in clips]


@pytest.mark.parametrize("width", [96, 224])
def test_h264_bytes_hang_on_the_frames_not_on_what_the_heap_held(width, monkeypatch):
    """x264's AVX-512 code once read memory it never wrote at widths short of a multiple of 128:
    glibc's MALLOC_PERTURB_ (fill freed and new memory with a byte) then changed the bytes."""
    rng = np.random.default_rng(width)
    blocks = rng.integers(0, 256, (8, width // 8, width // 8, 3), dtype=np.uint8)
    frames = np.repeat(np.repeat(blocks, 8, 1), 8, 2)
    clean = encode_mp4(frames, VideoFormat())
    for fill in ("85", "170"):
        monkeypatch.setenv("MALLOC_PERTURB_", fill)
        assert encode_mp4(frames, VideoFormat()) == clean, f"MALLOC_PERTURB_={fill}"


def test_x264_is_kept_off_avx512_only_where_its_bytes_are_unstable():
    from fractalvid.shards.encode import _codec_options, x264_asm, x264_asm_for

    zen4 = {"sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "abm", "avx", "fma", "bmi1",
            "bmi2", "avx2", "avx512f", "avx512bw", "avx512vl"}
    asm = x264_asm_for(zen4)
    assert asm.split(",") == ["MMX2", "SSE", "SSE2", "SSE3", "SSSE3", "SSE4.1", "SSE4.2", "LZCNT",
                              "AVX", "FMA3", "BMI1", "BMI2", "AVX2"]
    assert x264_asm_for({"sse", "sse2"}) == "MMX2,SSE,SSE2" and x264_asm_for(set()) == ""
    for width, pinned in ((96, True), (224, True), (128, False), (256, False)):
        opts = " ".join(_codec_options(VideoFormat(), width))
        assert ("asm=" in opts) == (pinned and x264_asm() != ""), (width, opts)
    assert "asm=" not in " ".join(_codec_options(VideoFormat(codec="h265"), 96))


def test_a_bad_clip_stops_the_group_before_ffmpeg_and_leaves_no_files(tmp_path):
    import os

    open_fds = (lambda: len(os.listdir("/proc/self/fd"))) if os.path.isdir("/proc/self/fd") \
        else (lambda: 0)
    before = open_fds()
    good = np.zeros((3, 16, 16), np.uint8)
    with pytest.raises(ValueError, match="even"):
        encode_mp4s([good, np.zeros((3, 16, 15), np.uint8)], VideoFormat(), str(tmp_path))
    with pytest.raises(ValueError, match="uint8"):
        encode_mp4s([good, good.astype(np.int16)], VideoFormat(), str(tmp_path))
    with pytest.raises(RuntimeError, match="ffmpeg failed"):  # ffmpeg itself refuses
        encode_mp4s([good, good], VideoFormat(preset="no-such-preset"), str(tmp_path))
    assert encode_mp4s([], VideoFormat()) == []
    assert len(encode_mp4s([good] * 3, VideoFormat(), str(tmp_path))) == 3
    assert list(tmp_path.iterdir()) == []  # MP4 outputs removed, even on failure
    assert open_fds() == before  # every pipe closed, even on failure


def test_every_clip_records_its_compose_operations(dataset):
    clips = pq.read_table(dataset / "clips.parquet").to_pylist()
    shard_keys = {}
    for r in clips:
        shard_keys.setdefault(r["shard"], set()).add(r["key"])
    for sample in wds.WebDataset(str(dataset / "train-000001.tar"), shardshuffle=False,
                                 empty_check=False):
        meta = json.loads(sample["json"])
        row = next(r for r in clips if r["key"] == sample["__key__"])
        assert meta["augmentations"] == json.loads(row["augmentations"])
        assert meta["ops"] == row["ops"] == [op["name"] for op in meta["augmentations"]]
        assert {"background", "blend", "scale"} <= set(meta["ops"])  # paper table: p = 1
        bg = meta["augmentations"][0]["params"]
        donors = [bg["donor"]] if bg["kind"] == "dynamic" else [f["donor"] for f in bg["frames"]]
        assert set(donors) <= shard_keys[row["shard"]] - {row["key"]}  # other clips, same shard


def test_render_batch_size_does_not_change_the_shards(cli, tmp_path):
    args = ["--set", "classes=3", "--set", "train_per_class=4", "--set", "val_per_class=0",
            "--set", "shard_size=12", "--set", "resolution=32", "--set", "chains=8",
            "--set", "iterations=200", "--set", "burn_in=10", "--quiet",
            "--workers", "1"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("generate", "--out", a, *args, "--batch", "1").exit_code == 0
    assert cli("generate", "--out", b, *args, "--batch", "64").exit_code == 0
    assert digests(a) == digests(b)


def test_encoder_threads_do_not_change_the_shard(tmp_path, monkeypatch):
    """Clips enter the tar in shard order whichever ffmpeg finishes first."""
    import random
    import time

    import fractalvid.pipelines.shard as shard_mod
    from fractalvid.gen.render import CpuRenderer
    from fractalvid.pipelines.config import build_config
    from fractalvid.pipelines.plan import plan_shards

    cfg = build_config("tiny", {"classes": 3, "train_per_class": 4, "val_per_class": 0,
                                "shard_size": 12, "resolution": 32, "chains": 8,
                                "iterations": 200, "burn_in": 10})
    shard = plan_shards(cfg)[0]
    for name in ("one", "four"):
        (tmp_path / name).mkdir()
    shard_mod.run_shard(cfg, shard, tmp_path / "one", CpuRenderer(), batch=8, encoders=1)
    real = shard_mod.encode_clips
    jitter = random.Random(0)

    def slow_encode(*args):  # finish out of order
        time.sleep(jitter.random() * 0.05)
        return real(*args)

    monkeypatch.setattr(shard_mod, "encode_clips", slow_encode)
    monkeypatch.setattr(shard_mod, "ENCODE_GROUP", 3)  # several groups per render batch
    shard_mod.run_shard(cfg, shard, tmp_path / "four", CpuRenderer(), batch=8, encoders=4)
    assert digests(tmp_path / "one") == digests(tmp_path / "four")


def test_color_clips_are_rgb(cli, tmp_path):
    out = tmp_path / "color"
    result = cli("generate", "--out", out, *SMALL, "--set", "color=true", "--set", "classes=2",
                 "--quiet")
    assert result.exit_code == 0
    sample = next(iter(wds.WebDataset(str(out / "train-000000.tar"), shardshuffle=False,
                                      empty_check=False)))
    frames = decode_mp4(sample["mp4"], color=True)
    assert frames.shape[1:] == (64, 64, 3)
    spread = frames.astype(int).max(axis=3) - frames.astype(int).min(axis=3)
    assert spread.max() > 40  # tinted, not gray
    assert json.loads(sample["json"])["channels"] == 3
    assert (out / "preview.png").read_bytes()[25] == 2  # PNG colour type: RGB


def test_three_shard_ranges_then_finalize_equal_one_run(dataset, cli, tmp_path):
    out = tmp_path / "ranges"
    said = {  # 4 shards: train 0-2, val 0
        "0:1": "1 of 4 shards of the data set done; once all are, run `fractalvid finalize",
        "1:3": "3 of 4 shards of the data set done; once all are, run",
        "3:4": "4 of 4 shards of the data set done; now run `fractalvid finalize",
    }
    for part, line in said.items():
        result = cli("generate", "--out", out, *SMALL, "--shards", part, "--quiet")
        assert result.exit_code == 0 and line in result.output
    assert not (out / "dataset.json").exists()
    assert cli("finalize", out).exit_code == 0
    assert digests(out) == digests(dataset)


@pytest.mark.parametrize("cached", [False, True])
def test_a_first_run_says_it_compiles_the_kernels_and_later_runs_do_not(tmp_path, monkeypatch,
                                                                        cached):
    from fractalvid.pipelines import run
    from fractalvid.pipelines.config import build_config
    from fractalvid.pipelines.options import RunOptions
    from fractalvid.pipelines.plan import plan_shards

    monkeypatch.setattr(run, "compiled_before", lambda: cached)
    cfg = build_config("tiny", {"classes": 2, "train_per_class": 1, "val_per_class": 0,
                                "resolution": 32, "chains": 8, "iterations": 200,
                                "burn_in": 10})
    run.run_shards(cfg, plan_shards(cfg), tmp_path, RunOptions("cpu", 1))
    log = (tmp_path / run.LOG_FILE).read_text()
    assert ("compiling the CPU kernels" in log) == (not cached), log


def test_the_kernel_cache_is_found_once_the_kernels_have_run():
    """compiled_before reads numba's own index file (internals that a numba upgrade may move:
    this fails then, instead of the note going silent)."""
    from pathlib import Path

    from fractalvid.gen.chaos import chaos_histograms, compiled_before
    from fractalvid.gen.render import CpuRenderer, RenderJob
    from fractalvid.pipelines.config import build_config

    coefs = np.tile(np.array([[0.5, 0, 0, 0, 0.5, 0], [0.5, 0, 0.5, 0, 0.5, 0]]), (2, 1, 1))
    CpuRenderer().render([RenderJob(coefs, 0, 1)], build_config("tiny").render_settings)
    assert Path(chaos_histograms._cache._cache_file._index_path).exists()
    assert compiled_before() is True


def test_a_machine_that_never_compiled_the_kernels_is_told_so(tmp_path):
    """In a fresh numba cache the kernel is not compiled yet: the first run says it compiles."""
    import subprocess
    import sys

    code = "from fractalvid.gen.chaos import compiled_before; print(compiled_before())"
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False", out.stderr


def test_cached_kernels_are_kept_per_cpu_so_a_shared_cache_serves_mixed_nodes(tmp_path):
    """numba compiles for the host CPU; on a file system shared by nodes of other CPUs, a
    node must not load another's machine code. Here a cache written for this CPU is not used
    by code compiled for Haswell (AVX2 only), which adds its own entry; each then hits its own."""
    import os
    import subprocess
    import sys

    code = ("import numpy; from fractalvid.gen.portable import sin32; sin32(numpy.float32(0.5));"
            " s = sin32.stats;"
            " print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))")

    def hits_misses(**env):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), **env}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
        return out.stdout.strip()

    haswell = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}
    assert hits_misses() == "0 1"  # compiled for this CPU
    assert hits_misses(**haswell) == "0 1"  # not this CPU's code: compiled anew
    assert hits_misses() == "1 0" and hits_misses(**haswell) == "1 0"


def test_a_worker_reports_its_own_peak_memory_not_its_parents():
    # loky starts a worker by fork and exec: the worker's ru_maxrss starts at the parent's
    # size, so a large main process made every worker look as large in the run's log.
    script = """
import numpy as np
from joblib import Parallel, delayed
from fractalvid.pipelines.shard import peak_rss_mb
held = np.ones(800 * 2**20 // 8)  # 800 MB, touched
peaks = Parallel(n_jobs=2, backend="loky")(delayed(peak_rss_mb)() for _ in range(2))
print(peak_rss_mb(), max(peaks))
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    parent, worker = map(float, out)
    assert parent > 800
    assert worker < 400, f"a worker said {worker:.0f} MB, its parent {parent:.0f} MB"


@given(samples=st.lists(st.dictionaries(st.sampled_from(["cls", "json", "png", "mp4"]),
                                        st.binary(max_size=1500), min_size=1),
                        max_size=12),
       stem=st.text(st.sampled_from("abz09-_é"), min_size=1, max_size=96))
@settings(max_examples=60, deadline=None)
def test_a_shard_is_byte_for_byte_the_tar_tarfile_writes(tmp_path_factory, samples, stem):
    import io

    from fractalvid.shards.tarwriter import MODE, MTIME, TarShardWriter

    path = tmp_path_factory.mktemp("tar") / "s.tar"
    keys = [f"{stem}{i:03d}" for i in range(len(samples))]
    writer = TarShardWriter(path)
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, members in zip(keys, samples):
            try:
                writer.add(key, members)
            except ValueError:  # a name USTAR cannot hold: tarfile refuses it too
                with pytest.raises(ValueError):
                    tarfile.TarInfo(f"{key}.json").tobuf(tarfile.USTAR_FORMAT)
                writer.abort()
                return
            for ext in sorted(members):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(members[ext]), MTIME, MODE
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(members[ext]))
    writer.commit()
    assert path.read_bytes() == expected.getvalue()

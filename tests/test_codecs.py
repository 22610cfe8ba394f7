"""Clip codecs: in-process MP4 decoding, the raw codec, and raw data sets end to end."""

import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.shards.codec import decode_clip, decode_mp4, decode_raw, encode_raw
from fractalvid.shards.encode import VideoFormat, decode_mp4_ffmpeg, encode_mp4s
from fractalvid.shards.reader import ClipError, ClipReader, clip_decoder

from outputs import generate, small_args

SMALL = small_args(classes=4, train_per_class=3, val_per_class=1, shard_size=4, resolution=64,
                   chains=16, iterations=400, burn_in=20)


def members(folder, ext):
    """{key: bytes} of every ``ext`` member of the data set's shards."""
    found = {}
    for path in sorted(folder.glob("*-[0-9]*.tar")):
        with tarfile.open(path) as tar:
            for m in tar:
                key, _, e = m.name.partition(".")
                if e == ext:
                    found[key] = tar.extractfile(m).read()
    return found


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("raw") / "ds", SMALL + ["--set", "codec=raw"])


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("h264") / "ds", SMALL)


@settings(max_examples=40, deadline=None)
@given(t=st.integers(1, 6), h=st.integers(1, 24), w=st.integers(1, 24), rgb=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_raw_round_trips_any_clip_to_the_same_bytes(t, h, w, rgb, seed):
    frames = np.random.default_rng(seed).integers(0, 256, (t, h, w) + ((3,) if rgb else ()),
                                                   dtype=np.uint8)
    data = encode_raw(frames)
    assert data == encode_raw(frames.copy())
    back = decode_raw(data)
    assert back.dtype == np.uint8 and np.array_equal(back, frames)


def test_a_raw_member_is_a_zstd_frame_holding_a_standard_npy_file():
    import io

    import zstandard

    frames = np.arange(2 * 4 * 6, dtype=np.uint8).reshape(2, 4, 6)
    npy = zstandard.ZstdDecompressor().decompress(encode_raw(frames))
    assert np.array_equal(np.load(io.BytesIO(npy)), frames)


def _clips(color, n=3, size=32, t=7):
    """Smooth moving blobs, as fractal clips look to an encoder: [t, size, size(, 3)] uint8."""
    rng = np.random.default_rng(size + t)
    yy, xx = np.mgrid[:size, :size]
    clips = []
    for _ in range(n):
        c = rng.uniform(0, size, 2)
        frames = np.stack([np.exp(-((yy - c[0] - i) ** 2 + (xx - c[1]) ** 2) / 40.0) * 255
                           for i in range(t)]).astype(np.uint8)
        clips.append(np.stack([frames, frames // 2, 255 - frames], -1) if color else frames)
    return clips


@pytest.mark.parametrize("color", [False, True])
def test_in_process_decoding_gives_the_frames_ffmpeg_gives(color):
    for mp4 in encode_mp4s(_clips(color), VideoFormat()):
        ours = decode_mp4(mp4, color=color)
        assert np.array_equal(ours, decode_mp4_ffmpeg(mp4, color=color))
        assert ours.shape[-1] == 3 if color else ours.ndim == 3


def test_undecodable_bytes_are_a_value_error():
    with pytest.raises(ValueError, match="cannot decode MP4"):
        decode_mp4(b"no video here")
    with pytest.raises(ValueError, match="cannot decode raw clip"):
        decode_raw(encode_raw(np.zeros((2, 8, 8), np.uint8))[:-6])
    with pytest.raises(ValueError, match="no decoder for .avi"):
        decode_clip("avi", b"")


def test_a_raw_set_holds_exactly_the_frames_the_h264_set_encoded(raw, h264):
    raws, mp4s = members(raw, "npy.zst"), members(h264, "mp4")
    assert sorted(raws) == sorted(mp4s) and len(raws) == 16
    frames = [decode_raw(raws[k]) for k in sorted(raws)]
    assert encode_mp4s(frames, VideoFormat()) == [mp4s[k] for k in sorted(mp4s)]


def test_a_raw_set_verifies_previews_and_reads_like_an_mp4_set(cli, raw, h264):
    assert cli("verify", raw, "--deep", "--quiet").exit_code == 0
    assert (raw / "preview.png").read_bytes()[:4] == b"\x89PNG"
    assert "raw uint8 frames" in (raw / "README.md").read_text()
    assert cli("stats", raw).exit_code == 0
    for split in ("train", "val"):
        got = {m["key"]: f for f, _, m in ClipReader(raw, split=split)}
        want = {m["key"]: f for f, _, m in ClipReader(h264, split=split)}
        assert sorted(got) == sorted(want)
        for key, frames in got.items():  # the MP4's are the raw frames after lossy coding
            assert frames.shape == want[key].shape
            assert np.abs(frames.astype(int) - want[key]).mean() < 8
    rows = pq.read_table(raw / "clips.parquet").to_pylist()
    assert all(r["bytes"] > 0 and len(r["sha256"]) == 64 for r in rows)


def test_dataloader_workers_read_every_raw_clip_once_per_epoch(raw):
    import torch

    from fractalvid.shards.reader import torch_dataset

    reader = ClipReader(raw, frames=4, stride=2, shuffle=True)
    loader = torch.utils.data.DataLoader(torch_dataset(reader), batch_size=None, num_workers=2)
    train = sorted(r["key"] for r in pq.read_table(raw / "clips.parquet").to_pylist()
                   if r["split"] == "train")
    for _ in range(2):
        keys = [m["key"] for frames, _, m in loader if frames.shape == (4, 64, 64)]
        assert sorted(keys) == train


def test_webdataset_decodes_raw_members_with_our_handler(raw):
    import webdataset as wds

    urls = sorted(str(p) for p in raw.glob("train-*.tar"))
    ds = wds.WebDataset(urls, shardshuffle=False).decode(clip_decoder()).to_tuple("npy.zst")
    shapes = {clip.shape[1:] for (clip,) in ds}
    assert shapes == {(64, 64)}


def test_a_damaged_raw_clip_is_named(raw, tmp_path):
    import io

    src = sorted(raw.glob("train-*.tar"))[0]
    bad = tmp_path / src.name
    with tarfile.open(src) as tin, tarfile.open(bad, "w", format=tarfile.USTAR_FORMAT) as tout:
        for info in tin:
            data = tin.extractfile(info).read()
            if info.name.endswith(".npy.zst") and "victim" not in locals():
                victim = info.name.split(".")[0]
                data = data[:-20] + bytes(b ^ 0xFF for b in data[-20:])
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    with pytest.raises(ClipError, match=f"clip {victim}: cannot decode raw clip"):
        list(ClipReader([bad]))


def test_plan_estimates_the_disk_of_both_codecs(cli):
    result = cli("plan", "--preset", "paper", "--json")
    est = json.loads(result.output)["estimated_bytes_by_codec"]
    assert 3 < est["raw"] / est["h264"] < 10  # raw: about 0.2 B a pixel, H.264 0.04
    text = cli("plan", "--preset", "paper", "--set", "codec=raw").output
    assert "as raw" in text and "with codec=h264" in text

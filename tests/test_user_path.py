"""The path a new user takes: damage never read silently, batches, resuming mid-epoch, the
folder as a Hugging Face data set, clips to watch, and words that match the code."""

import io
import json
import shutil
import tarfile

import numpy as np
import pytest

from fractalvid import ClipReader, ClipStream, build_config, collate, generate
from fractalvid.shards.reader import ClipError, clip_decoder

SMALL = {"classes": 3, "train_per_class": 8, "val_per_class": 2, "resolution": 32,
         "chains": 8, "iterations": 300, "burn_in": 10, "shard_size": 6}


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("user") / "ds"
    generate(build_config("tiny", SMALL), out, workers=1)
    return out


def _flip_inside(path, member_suffix, which=0):
    """Flip one byte in the middle of the ``which``-th member ending in ``member_suffix``;
    returns that member's key."""
    with tarfile.open(path) as tar:
        m = [m for m in tar if m.name.endswith(member_suffix)][which]
    data = bytearray(path.read_bytes())
    data[m.offset_data + m.size // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    return m.name.split(".")[0]


# Damage never passes silently ------------------------------------------------------------------


def test_a_flipped_byte_inside_an_mp4_is_a_clip_error_by_default(ds, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(ds, out)
    key = _flip_inside(out / "train-000001.tar", ".mp4", which=2)
    with pytest.raises(ClipError) as err:
        list(ClipReader(out))
    assert err.value.key == key and err.value.shard.endswith("train-000001.tar")
    assert "sha256" in str(err.value)
    reader = ClipReader(out, handler="skip")
    assert len(list(reader)) == 23 and reader.skipped == 1


# Batching ---------------------------------------------------------------------------------------


def test_a_dataloader_batches_eight_clips_from_the_reader(ds):
    torch = pytest.importorskip("torch")
    from fractalvid import torch_dataset

    loader = torch.utils.data.DataLoader(torch_dataset(ClipReader(ds, frames=8, stride=2)),
                                         batch_size=8, collate_fn=collate)
    batches = list(loader)
    frames, labels, metas = batches[0]
    assert frames.shape == (8, 8, 32, 32) and frames.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.tolist() == [m["class_id"] for m in metas]
    assert sum(len(b[2]) for b in batches) == 24


def test_a_dataloader_batches_eight_clips_from_the_stream():
    torch = pytest.importorskip("torch")
    from fractalvid import torch_dataset

    stream = ClipStream({**SMALL, "labels": False}, frames=8)
    frames, labels, metas = next(iter(torch.utils.data.DataLoader(
        torch_dataset(stream), batch_size=8, collate_fn=collate)))
    assert frames.shape == (8, 8, 32, 32) and labels.tolist() == [-1] * 8 and len(metas) == 8


def test_whole_clips_of_different_lengths_say_how_to_batch(ds):
    clips = list(ClipReader(ds))
    lengths = {f.shape[0] for f, _, _ in clips}
    assert len(lengths) > 1  # the tiny preset's clips vary in length
    with pytest.raises(ValueError, match="frames=N"):
        collate(clips[:8])


def test_the_webdataset_recipe_batches(ds):
    wds = pytest.importorskip("webdataset")
    urls = [str(p) for p in sorted(ds.glob("train-*.tar"))]
    pipeline = (wds.WebDataset(urls, shardshuffle=False)
                .decode(clip_decoder(frames=8, stride=2)).to_tuple("mp4", "cls").batched(8))
    frames, labels = next(iter(pipeline))
    assert np.asarray(frames).shape == (8, 8, 32, 32) and len(labels) == 8


# Resuming mid-epoch -------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_reader_resumes_mid_epoch_with_exactly_the_rest(ds, shuffle):
    whole = [m["key"] for _, _, m in ClipReader(ds, shuffle=shuffle, seed=3)]
    reader = ClipReader(ds, shuffle=shuffle, seed=3)
    it = iter(reader)
    head = [next(it)[2]["key"] for _ in range(10)]
    state = json.loads(json.dumps(reader.state_dict()))  # it travels as JSON
    again = ClipReader(ds, shuffle=shuffle, seed=3)
    again.load_state_dict(state)
    assert head + [m["key"] for _, _, m in again] == whole


def test_the_stream_resumes_mid_epoch_with_exactly_the_rest():
    cfg = {**SMALL, "train_per_class": 4}
    whole = [(m["key"], f) for f, _, m in ClipStream(cfg, shuffle=True)]
    stream = ClipStream(cfg, shuffle=True)
    it = iter(stream)
    head = [next(it)[2]["key"] for _ in range(5)]
    again = ClipStream(cfg, shuffle=True)
    again.load_state_dict(stream.state_dict())
    rest = [(m["key"], f) for f, _, m in again]
    assert head + [k for k, _ in rest] == [k for k, _ in whole]
    assert all(np.array_equal(f, dict(whole)[k]) for k, f in rest)


# The folder as a Hugging Face data set ----------------------------------------------------------


def test_the_folder_loads_with_load_dataset_as_clips(ds):
    datasets = pytest.importorskip("datasets")
    from fractalvid.shards.codec import decode_clip

    train = datasets.load_dataset(str(ds), split="train")
    assert train.num_rows == 24 and "mp4" in train.features  # clips, not done markers
    row = train.cast_column("mp4", datasets.Video(decode=False))[0]
    frames = decode_clip("mp4", row["mp4"]["bytes"])
    assert frames.shape[1:] == (32, 32)
    assert datasets.load_dataset(str(ds), split="validation").num_rows == 6


def test_the_card_has_the_hubs_front_matter_and_says_what_an_unlabeled_set_is(ds, tmp_path):
    card = (ds / "README.md").read_text()
    head = card.split("---")[1]
    assert 'path: "train-*.tar"' in head and "video-classification" in head
    assert "arxiv:2411.17584" in head and "@article" in card and "preview.gif" in card
    out = generate(build_config("tiny", {**SMALL, "labels": False}), tmp_path / "u",
                   workers=1).out
    unlabeled = (out / "README.md").read_text()
    assert "label: None (unlabeled)" in unlabeled and "no classes" in unlabeled
    assert "label: class id" not in unlabeled


# Clips to watch ---------------------------------------------------------------------------------


def test_show_exports_a_clip_as_a_gif_with_all_its_frames(cli, ds, tmp_path):
    from PIL import Image

    meta = next(iter(ClipReader(ds)))[2]
    gif = tmp_path / "clip.gif"
    result = cli("show", ds, meta["key"], "--gif", gif)
    assert result.exit_code == 0, result.output
    image = Image.open(gif)
    assert image.n_frames == meta["frames"] and image.size == (32, 32)
    first = np.array(image.convert("L"))
    want = next(f for f, _, m in ClipReader(ds) if m["key"] == meta["key"])[0]
    assert np.abs(first.astype(int) - want.astype(int)).max() == 0  # gray is lossless
    again = cli("show", ds, meta["key"], "--gif", gif)
    assert again.exit_code == 2 and "exists" in again.output  # never over a file


def test_show_writes_the_mp4_member_as_it_is(cli, ds, tmp_path):
    meta = next(iter(ClipReader(ds)))[2]
    mp4 = tmp_path / "clip.mp4"
    assert cli("show", ds, meta["key"], "--mp4", mp4).exit_code == 0
    with tarfile.open(ds / f"{meta['shard']}.tar") as tar:
        assert mp4.read_bytes() == tar.extractfile(f"{meta['key']}.mp4").read()


def test_finalize_writes_an_animated_preview_of_a_few_clips_a_class(ds):
    from PIL import Image

    gif = Image.open(io.BytesIO((ds / "preview.gif").read_bytes()))
    label = 12  # the class ids' strip: one digit, 3 px wide at 2x, with its margins
    assert gif.n_frames >= 8 and gif.size == (label + 3 * 32 + 4, 3 * 32 + 4)  # 3 x 3 clips
    assert "preview.gif" in json.loads((ds / "dataset.json").read_text())["written"]


def test_preview_tiles_are_apart_by_a_gap_that_is_not_black_and_rows_say_their_class(ds):
    from fractalvid.shards.preview import _GLYPH, GAP_GRAY, preview_grid

    grid = preview_grid(ds, rows=3, cols=4)
    left = 12
    assert grid.shape == (3 * 34 - 2, left + 4 * 34 - 2)
    assert (grid[32:34, left:] == GAP_GRAY).all()
    assert (grid[:, left + 32: left + 34] == GAP_GRAY).all()
    for row in range(3):  # class 0, 1, 2, drawn in white at 2x
        mark = grid[row * 34 + 0: row * 34 + 10: 2, 4:10:2] == 255
        assert (mark == _GLYPH[row]).all()


# Words that match the code ------------------------------------------------------------------------


def test_verify_prints_the_command_that_repairs_what_it_found(cli, ds, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "ds"
    shutil.copytree(ds, out)
    _flip_inside(out / "train-000002.tar", ".mp4")
    result = cli("verify", out, "--quiet")
    last = result.output.strip().splitlines()[-1]
    assert result.exit_code == 1 and last.startswith("to repair: ")
    subprocess.run(last.removeprefix("to repair: "), shell=True, check=True,
                   capture_output=True, env={"PATH": f"{sys.executable.rsplit('/', 1)[0]}"})
    assert cli("verify", out, "--quiet").exit_code == 0


def test_plan_speaks_of_this_machines_cores_and_the_real_shard_sizes(cli, monkeypatch):
    import fractalvid.pipelines.report as report

    monkeypatch.setattr(report, "cpu_count", lambda: 3)
    text = cli("plan", "--set", "classes=2", "--set", "train_per_class=5",
               "--set", "shard_size=4").output
    assert "this machine's 3 cores" in text and "2-4 clips each" in text
    assert "0.00" not in text and " s of one core" in text

"""Consumers: our reader, and the loaders people use (webdataset, wids, HF datasets, duckdb)."""

import json
import os
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fractalvid.shards.codec import decode_mp4
from fractalvid.shards.reader import (
    ClipReader,
    WidsInPlace,
    mp4_decoder,
    sample_window,
    shard_urls,
)

from outputs import generate, small_args

SMALL = small_args(classes=4, train_per_class=4, val_per_class=2, shard_size=4, resolution=64,
                   chains=16, iterations=400, burn_in=20)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("consumers") / "tiny", SMALL)


@pytest.fixture(scope="module")
def rows(ds):
    return {r["key"]: r for r in pq.read_table(ds / "clips.parquet").to_pylist()}


def train_keys(rows):
    return sorted(k for k, r in rows.items() if r["split"] == "train")


def test_reader_yields_every_clip_once_with_sampled_frames(ds, rows):
    seen = []
    for frames, label, meta in ClipReader(ds, frames=8, stride=2):
        assert frames.shape == (8, 64, 64) and frames.dtype == np.uint8
        assert label == rows[meta["key"]]["class_id"]
        seen.append(meta["key"])
    assert seen == train_keys(rows)  # unshuffled: shard order
    val = [m["key"] for _, _, m in ClipReader(ds, split="val")]
    assert len(val) == 8 and all(rows[k]["split"] == "val" for k in val)


def test_reader_whole_clips_match_the_mp4(ds, rows):
    import tarfile

    seen = 0
    for frames, _, meta in ClipReader(ds):
        with tarfile.open(ds / f"{meta['shard']}.tar") as tar:
            mp4 = tar.extractfile(f"{meta['key']}.mp4").read()
        assert frames.shape == (rows[meta["key"]]["frames"], 64, 64)
        np.testing.assert_array_equal(frames, decode_mp4(mp4))  # every frame, every pixel
        seen += 1
    assert seen == len(train_keys(rows))


def test_every_source_form_names_the_same_shards(ds):
    by_folder = shard_urls(ds)
    assert by_folder == shard_urls(ds / "index.train.json")
    assert by_folder == shard_urls(str(ds / "train-{000000..000003}.tar"))
    assert [m["key"] for _, _, m in ClipReader(by_folder[:2])] == \
        [m["key"] for _, _, m in ClipReader(str(ds / "train-{000000..000001}.tar"))]


def test_ranks_get_equal_disjoint_runs_of_clips(ds, rows):
    # 16 clips in 4 shards over 3 ranks: 5 each (one left over), never the same clip twice
    parts = [[m["key"] for _, _, m in ClipReader(ds, rank=r, world_size=3, shuffle=True)]
             for r in range(3)]
    flat = [k for p in parts for k in p]
    assert [len(p) for p in parts] == [5, 5, 5]
    assert len(set(flat)) == 15 and set(flat) <= set(train_keys(rows))


def test_dealing_whole_shards_unevenly_is_warned(ds, rows):
    with pytest.warns(UserWarning, match="unevenly over 3 ranks"):
        readers = [ClipReader(ds, rank=r, world_size=3, even=False) for r in range(3)]
    parts = [[m["key"] for _, _, m in reader] for reader in readers]
    assert sorted(len(p) for p in parts) == [4, 4, 8]
    assert sorted(k for p in parts for k in p) == train_keys(rows)


def test_shuffling_is_seeded_and_changes_with_the_epoch(ds, rows):
    def order(seed, epoch):
        reader = ClipReader(ds, shuffle=True, seed=seed, buffer=8, frames=4)
        reader.set_epoch(epoch)
        return [m["key"] for _, _, m in reader]

    first = order(1, 0)
    assert first == order(1, 0)
    assert sorted(first) == train_keys(rows)
    assert first != order(1, 1) and first != train_keys(rows)


def test_each_pass_is_the_next_epoch_without_set_epoch(ds, rows):
    reader = ClipReader(ds, shuffle=True, seed=1, buffer=8)
    passes = [[m["key"] for _, _, m in reader] for _ in range(3)]
    assert passes[0] != passes[1] != passes[2] != passes[0]
    assert all(sorted(p) == train_keys(rows) for p in passes)
    again = ClipReader(ds, shuffle=True, seed=1, buffer=8)
    again.set_epoch(1)
    assert [m["key"] for _, _, m in again] == passes[1]  # a pure function of (seed, epoch)


@pytest.mark.parametrize("persistent", [True, False])
def test_dataloader_workers_see_a_new_epoch_each_pass_and_set_epoch(ds, rows, persistent):
    import torch

    from fractalvid.shards.reader import torch_dataset

    def passes(reader, loader, n):
        return [[m["key"] for _, _, m in loader] for _ in range(n)]

    reader = ClipReader(ds, shuffle=True, seed=2, buffer=4, frames=2)
    loader = torch.utils.data.DataLoader(torch_dataset(reader), batch_size=None, num_workers=2,
                                         persistent_workers=persistent)
    first = passes(reader, loader, 2)
    assert first[0] != first[1] and all(sorted(p) == train_keys(rows) for p in first)
    reader.set_epoch(0)  # reaches the workers, persistent ones included
    assert passes(reader, loader, 1)[0] == first[0]
    # the main process reading alone gets the same clips per epoch, in another interleaving
    alone = ClipReader(ds, shuffle=True, seed=2, buffer=4, frames=2)
    assert sorted(m["key"] for _, _, m in alone) == sorted(first[0])


def _rewrite_tar(src, dst, change):
    """Copy tar ``src`` to ``dst`` with ``change(name, data) -> data`` applied to members."""
    import io
    import tarfile

    with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.USTAR_FORMAT) as tout:
        for info in tin:
            data = change(info.name, tin.extractfile(info).read())
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    return dst


def test_a_truncated_shard_names_itself_and_the_clip_being_read(ds, tmp_path):
    from fractalvid.shards.reader import ClipError

    cut = tmp_path / "train-000001.tar"
    data = (ds / "train-000001.tar").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ClipError, match=r"train-000001\.tar: clip 0000000\d\d: unreadable") as e:
        list(ClipReader([cut]))
    assert e.value.shard == str(cut) and e.value.key is not None


def test_an_undecodable_clip_is_named_and_the_handler_can_skip_it(ds, rows, tmp_path):
    from fractalvid.shards.reader import ClipError

    first = sorted(ds.glob("train-*.tar"))[0]
    bad_key = train_keys(rows)[1]
    bad = _rewrite_tar(first, tmp_path / first.name,
                       lambda name, data: b"not an mp4" if name == f"{bad_key}.mp4" else data)
    with pytest.raises(ClipError, match=f"{first.name}: clip {bad_key}: cannot decode"):
        list(ClipReader([bad], check=False))
    reader = ClipReader([bad], handler="warn", check=False)
    with pytest.warns(UserWarning, match=f"clip {bad_key}"):
        keys = [m["key"] for _, _, m in reader]
    assert bad_key not in keys and len(keys) == 3 and reader.skipped == 1
    seen = []
    assert len(list(ClipReader([bad], handler=seen.append, check=False))) == 3
    assert [e.key for e in seen] == [bad_key]
    with pytest.raises(ValueError, match="handler='ignore'"):
        ClipReader([bad], handler="ignore")


def test_check_finds_a_clip_whose_bytes_changed_but_still_decode(ds, rows, tmp_path):
    from fractalvid.shards.reader import ClipError

    first = sorted(ds.glob("train-*.tar"))[0]
    key = train_keys(rows)[2]

    def flip(name, data):
        if name != f"{key}.mp4":
            return data
        changed = bytearray(data)
        changed[data.index(b"mvhd") + 8] ^= 0x01  # the movie's creation time: still decodes
        return bytes(changed)

    bad = _rewrite_tar(first, tmp_path / first.name, flip)
    assert len(list(ClipReader([bad], check=False))) == 4  # decoding alone does not notice
    with pytest.raises(ClipError, match=f"clip {key}: its bytes differ from the sha256"):
        list(ClipReader([bad]))  # the default checks


@given(t=st.integers(1, 40), frames=st.integers(1, 16), stride=st.integers(1, 4),
       seed=st.integers(0, 1000))
def test_sample_window_stays_inside_the_clip_at_the_stride(t, frames, stride, seed):
    idx = sample_window(t, frames, stride, random.Random(seed))
    assert len(idx) == frames and idx.min() >= 0 and idx.max() < t
    if (frames - 1) * stride + 1 <= t:
        assert np.all(np.diff(idx) == stride)
        centred = sample_window(t, frames, stride, None)
        assert abs(centred[0] - (t - 1 - centred[-1])) <= 1


def test_bad_reader_arguments_are_named(ds, tmp_path):
    with pytest.raises(ValueError, match="frames=0"):
        ClipReader(ds, frames=0)
    with pytest.raises(ValueError, match="rank 3"):
        ClipReader(ds, rank=3, world_size=2)
    with pytest.raises(ValueError, match="world_size=0"):
        ClipReader(ds, world_size=0)
    with pytest.raises(ValueError, match="buffer=-5"):
        ClipReader(ds, shuffle=True, buffer=-5)
    with pytest.raises(ValueError, match="stride=0"):
        ClipReader(ds, frames=4, stride=0)
    with pytest.raises(FileNotFoundError, match="no index.train.json"):
        ClipReader(tmp_path)


def test_torch_dataloader_workers_read_each_clip_once(ds, rows):
    import torch  # the test extra installs torch==2.13.0 (CPU)

    from fractalvid.shards.reader import torch_dataset

    loader = torch.utils.data.DataLoader(
        torch_dataset(ClipReader(ds, frames=8, stride=2)), batch_size=None, num_workers=2
    )
    keys = []
    for frames, label, meta in loader:
        assert isinstance(frames, torch.Tensor) and tuple(frames.shape) == (8, 64, 64)
        assert label == rows[meta["key"]]["class_id"]
        keys.append(meta["key"])
    assert sorted(keys) == train_keys(rows)


def test_webdataset_pipeline_with_our_decoder(ds, rows):
    import webdataset as wds

    urls = shard_urls(ds)
    pipeline = wds.WebDataset(urls, shardshuffle=False, empty_check=False) \
        .decode(mp4_decoder()).to_tuple("mp4", "cls", "json")
    n = 0
    for frames, cls, meta in pipeline:
        assert isinstance(frames, np.ndarray) and frames.shape[1:] == (64, 64)
        assert int(cls) == rows[meta["key"]]["class_id"]
        n += 1
    assert n == 16


def test_wids_index_loads(ds, rows, tmp_path):
    import wids  # needs torch and pillow, which it does not declare

    dataset = wids.ShardListDataset(str(ds / "index.train.json"), localname=WidsInPlace(tmp_path))
    assert len(dataset) == 16
    sample = dataset[5]
    frames = decode_mp4(sample[".mp4"].read())
    assert frames.shape[1:] == (64, 64)
    assert sample[".cls"] == rows[sample["__key__"]]["class_id"]


def test_wids_copies_every_shard_it_opens_by_default(ds, tmp_path, monkeypatch):
    """Why WidsInPlace exists: without a localname, wids copies each shard into its cache."""
    import wids

    monkeypatch.setenv("WIDS_CACHE", str(tmp_path / "cache"))
    wids.ShardListDataset(str(ds / "index.train.json"))[5]
    (copy,) = (tmp_path / "cache").iterdir()
    assert not copy.is_symlink() and copy.stat().st_size == (ds / "train-000001.tar").stat().st_size


def test_wids_reads_shards_in_place_through_our_localname(ds, rows, tmp_path, monkeypatch):
    """No copy, and nothing written beside the shards (wids' lock files go to the scratch
    folder), so read-only storage works; the localname survives pickling (DataLoader workers)."""
    import pickle

    import wids
    import wids.wids_dl

    monkeypatch.setenv("WIDS_CACHE", str(tmp_path / "cache"))
    locks = []
    lock_init = wids.wids_dl.ULockFile.__init__

    def recording_init(self, path):
        locks.append(Path(path))
        lock_init(self, path)

    monkeypatch.setattr(wids.wids_dl.ULockFile, "__init__", recording_init)
    before = sorted(os.listdir(ds))
    localname = pickle.loads(pickle.dumps(WidsInPlace(tmp_path / "scratch")))
    dataset = wids.ShardListDataset(str(ds / "index.train.json"), localname=localname)
    for i in range(len(dataset)):
        sample = dataset[i]
        assert sample[".cls"] == rows[sample["__key__"]]["class_id"]
    assert sorted(os.listdir(ds)) == before
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")
    shard_locks = [lock for lock in locks if lock.name.endswith(".tar.lock")]
    assert shard_locks and {lock.parent for lock in shard_locks} == {tmp_path / "scratch"}
    links = sorted((tmp_path / "scratch").iterdir())
    assert len(links) == len(list(ds.glob("train-*.tar")))
    assert all(link.is_symlink() and link.resolve().parent == ds.resolve() for link in links)


def test_wids_in_place_names_and_cleanup(ds, tmp_path):
    import gc

    localname = WidsInPlace()
    scratch = localname.scratch
    shard = str(ds / "train-000000.tar")
    plain, file_url = Path(localname(shard)), Path(localname("file://" + shard))
    assert plain.parent == file_url.parent == scratch
    assert plain.resolve() == file_url.resolve() == Path(shard).resolve()
    assert localname(shard) == str(plain)  # the same name again; the link is already there
    remote = localname("https://example.org/data/train-000000.tar")
    assert Path(remote).parent == scratch and not Path(remote).exists()  # wids downloads here
    with pytest.raises(FileNotFoundError, match="no such shard"):
        localname(str(ds / "train-999999.tar"))
    del localname
    gc.collect()
    assert not scratch.exists()


def test_hugging_face_datasets_loads_the_shards(ds, rows, tmp_path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    hf = datasets.load_dataset("webdataset", data_files={"train": shard_urls(ds)}, split="train",
                               cache_dir=str(tmp_path / "hf"))
    hf = hf.cast_column("mp4", datasets.Video(decode=False))  # decode with ours, not torchcodec
    assert hf.num_rows == 16
    for i in (0, 9, 15):
        r = hf[i]
        assert r["cls"] == rows[r["__key__"]]["class_id"]
        assert [a["name"] for a in r["json"]["augmentations"]] == rows[r["__key__"]]["ops"]
        assert decode_mp4(r["mp4"]["bytes"]).shape[1:] == (64, 64)


def test_hugging_face_datasets_streams_the_shards_without_a_copy(ds, rows, tmp_path):
    """The README's way: streaming=True reads the tars in place; nothing lands in the cache."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    hf = datasets.load_dataset("webdataset", data_files={"train": shard_urls(ds)}, split="train",
                               streaming=True, cache_dir=str(tmp_path / "hf"))
    hf = hf.cast_column("mp4", datasets.Video(decode=False))
    seen = []
    for r in hf:
        assert r["cls"] == rows[r["__key__"]]["class_id"]
        assert decode_mp4(r["mp4"]["bytes"]).shape[1:] == (64, 64)
        seen.append(r["__key__"])
    assert sorted(seen) == train_keys(rows)
    cached = sum(p.stat().st_size for p in (tmp_path / "hf").rglob("*") if p.is_file())
    assert cached < 1024  # a lock file at most; no Arrow copy of the clips


def test_duckdb_and_pyarrow_query_the_metadata_joined_by_key(ds, rows):
    import duckdb
    path = str(ds / "clips.parquet")
    per_class = duckdb.sql(
        f"select class_id, count(*) from '{path}' where split = 'train' group by 1 order by 1"
    ).fetchall()
    assert per_class == [(c, 4) for c in range(4)]
    query = f"select key from '{path}' where list_contains(ops, 'perspective')"
    keys = {k for (k,) in duckdb.sql(query).fetchall()}
    assert keys == {k for k, r in rows.items() if "perspective" in r["ops"]}
    # join to the samples by key: the JSON member says the same
    for _, _, meta in ClipReader(ds, split="val"):
        assert ("perspective" in meta["ops"]) == (meta["key"] in keys)
    val = pq.read_table(path, filters=[("split", "=", "val")])
    assert val.num_rows == 8
    params = json.loads(val.column("augmentations")[0].as_py())
    assert params[0]["name"] == "background"


def test_the_pretraining_example_runs_on_a_data_set(ds):
    """examples/pretrain.py, as the README runs it, on a small set: loads both splits, trains,
    reports val top-1 (a smoke test of the example against the reader's API)."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    example = Path(__file__).parents[1] / "examples" / "pretrain.py"
    proc = subprocess.run([sys.executable, str(example), "--data", str(ds), "--epochs", "2",
                           "--size", "32", "--width", "8"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "16 train / 8 val clips, 4 classes" in proc.stdout
    assert "val top-1" in proc.stdout and "(chance 25.0%)" in proc.stdout

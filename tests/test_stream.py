"""ClipStream: the offline set's clips made in the training loop, split over ranks, workers and
epochs, and fresh instances without end."""


import numpy as np
import pytest

from fractalvid import ClipStream, build_config

from outputs import generate, raw_frames, small_args

KEYS = dict(classes=4, train_per_class=5, val_per_class=2, shard_size=6, resolution=64,
            chains=16, iterations=400, burn_in=20, color="true")
CFG = build_config("tiny", {k: str(v) for k, v in KEYS.items()})


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """{key: frames} of the offline set of the same config, made with codec=raw."""
    return raw_frames(generate(tmp_path_factory.mktemp("raw") / "ds",
                               small_args(codec="raw", **KEYS)))


def keys(stream):
    return [meta["key"] for _, _, meta in stream]


@pytest.mark.parametrize("split", ["train", "val"])
def test_stream_frames_equal_the_offline_raw_set_key_by_key(offline, split):
    seen = 0
    for frames, label, meta in ClipStream(CFG, split=split):
        assert frames.dtype == np.uint8 and frames.shape[3] == 3
        assert np.array_equal(frames, offline[meta["key"]])
        assert label == meta["class_id"] and meta["split"] == split
        seen += 1
    assert seen == (20 if split == "train" else 8)


def test_windows_are_those_of_the_reader(offline):
    from fractalvid.shards.reader import sample_window

    for frames, _, meta in ClipStream(CFG, frames=4, stride=2):
        whole = offline[meta["key"]]
        assert np.array_equal(frames, whole[sample_window(whole.shape[0], 4, 2, None)])


def test_the_stream_is_a_pure_function_of_config_epoch_and_rank():
    a = ClipStream(CFG, shuffle=True)
    first, second = keys(a), keys(a)
    assert first != second and sorted(first) == sorted(second)  # each pass: the next epoch
    b = ClipStream(CFG, shuffle=True)
    b.set_epoch(1)
    assert keys(b) == second


def test_ranks_and_dataloader_workers_get_disjoint_clips_that_cover_the_epoch():
    import torch

    from fractalvid.shards.reader import torch_dataset

    everything = sorted(keys(ClipStream(CFG)))
    parts = []
    for rank in range(2):
        stream = ClipStream(CFG, rank=rank, world_size=2, even=False)
        # forkserver: this test process ran numba's OpenMP threads, which a fork cannot copy
        loader = torch.utils.data.DataLoader(torch_dataset(stream), batch_size=None,
                                             num_workers=2, multiprocessing_context="forkserver")
        parts.append([meta["key"] for _, _, meta in loader])
    flat = [k for p in parts for k in p]
    assert sorted(flat) == everything and len(set(flat)) == len(flat)
    even = [keys(ClipStream(CFG, rank=r, world_size=3)) for r in range(3)]
    assert len({len(p) for p in even}) == 1 and len(set(sum(even, []))) == sum(map(len, even))
    assert len(ClipStream(CFG, rank=0, world_size=3)) == len(even[0])


def test_infinite_epochs_bring_fresh_instances_of_the_same_classes():
    stream = ClipStream(CFG, infinite=True)
    epochs = [list(stream) for _ in range(3)]
    seen = [[m["key"] for _, _, m in e] for e in epochs]
    assert all(len(s) == 20 for s in seen)
    assert len(set(sum(seen, []))) == 60  # no clip twice in three epochs
    planned = keys(ClipStream(CFG))
    assert seen[0] == planned
    val = set(keys(ClipStream(CFG, split="val", infinite=True)))
    assert not val & set(sum(seen, []))
    classes = [[m["class_id"] for _, _, m in e] for e in epochs]
    assert classes[0] == classes[1] == classes[2]
    instances = {(m["class_id"], m["instance"]) for e in epochs for _, _, m in e}
    assert len(instances) == 60
    # a fresh clip is not a copy of a planned one
    assert not np.array_equal(epochs[1][0][0], epochs[0][0][0])


def test_bad_stream_arguments_are_named():
    with pytest.raises(ValueError, match="split='test'"):
        ClipStream(CFG, split="test")
    with pytest.raises(ValueError, match="rank 2 outside 0..1"):
        ClipStream(CFG, rank=2, world_size=2)
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        ClipStream(CFG, backend="tpu")


def test_the_pretraining_example_trains_from_the_stream(tmp_path):
    """examples/pretrain.py --stream: two DataLoader workers make the clips, nothing on disk."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "small.json"
    config.write_text(json.dumps({k: v for k, v in KEYS.items() if k != "color"}))
    example = Path(__file__).parents[1] / "examples" / "pretrain.py"
    proc = subprocess.run([sys.executable, str(example), "--stream", str(config), "--workers",
                           "2", "--epochs", "2", "--size", "32", "--width", "8"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "streaming 20 fresh clips an epoch, 4 classes, 2 DataLoader workers" in proc.stdout
    assert proc.stdout.count("(20 clips at") == 2
    assert "val top-1" in proc.stdout and "on 8 clips (chance 25.0%)" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.json"]


@pytest.mark.parametrize("preset,generator", [("tiny", "fractal"), ("images", "fractal"),
                                              ("tiny", "perlin"), ("tiny", "dead_leaves"),
                                              ("tiny", "octopus")])
def test_two_threads_make_chunks_side_by_side_and_the_same_clips(preset, generator, monkeypatch):
    import numba

    import fractalvid.pipelines.produce as produce

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread on this machine")
    fractal = {"iterations": 300} if generator == "fractal" else {}
    cfg = build_config(preset, {"generator": generator, "classes": 3, "train_per_class": 6,
                                "val_per_class": 0, "resolution": 32, **fractal})
    used = []
    side_by_side = produce._side_by_side
    monkeypatch.setattr(produce, "_side_by_side",
                        lambda *a: used.append(a[2]) or side_by_side(*a))
    two = [(f.copy(), c, m["key"]) for f, c, m in ClipStream(cfg, threads=2)]
    assert used == [1]  # two threads, one numba thread each
    one = [(f, c, m["key"]) for f, c, m in ClipStream(cfg, threads=1)]
    assert used == [1]  # one thread: chunk after chunk
    assert [k for *_, k in two] == [k for *_, k in one] and len(one) == 18
    for (a, ca, _), (b, cb, _) in zip(two, one):
        assert ca == cb
        np.testing.assert_array_equal(a, b)

"""compose_strength and ClipStream's curriculum: the reference's training-time ramp of the
compose operations, offline at any strength and on the fly over the first epochs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid import ClipStream, build_config, generate
from fractalvid.gen.compose import ComposeSettings, ramped, sample_ops

from outputs import digests, raw_frames

SMALL = {"classes": 3, "train_per_class": 4, "val_per_class": 0, "resolution": 32,
         "chains": 8, "iterations": 300, "burn_in": 10, "shard_size": 6, "codec": "raw",
         "shift_p": 1.0, "pan_p": 1.0, "zoom_p": 1.0, "shake_p": 1.0, "clone_p": 0.5}


def test_full_strength_is_todays_config_and_bytes(tmp_path):
    assert build_config("tiny", {"compose_strength": 1.0}).fingerprint() == \
        build_config("tiny").fingerprint() == "3298d2633283734e"
    a = generate(build_config("tiny", SMALL), tmp_path / "a", workers=1).out
    b = generate(build_config("tiny", {**SMALL, "compose_strength": 1}), tmp_path / "b",
                 workers=1).out
    assert digests(a) == digests(b)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), t=st.integers(8, 40), size=st.sampled_from([32, 112, 256]))
def test_strength_zero_stays_inside_the_ramps_start(seed, t, size):
    s = ComposeSettings(shift_p=1.0, pan_p=1.0, zoom_p=1.0, shake_p=1.0, clone_p=1.0)
    ops = {op["name"]: op["params"] for op in sample_ops(
        np.random.default_rng(seed), ramped(s, 0.0), t, size, [("000000001", t)])}
    assert "clone" not in ops  # no clones before the ramp ends
    assert ops["scale"]["sx"] == ops["scale"]["sy"] == 1.0  # the fractal is not shrunk
    for name in ("shift", "pan"):
        assert ops[name]["speed"] <= 0.2 * 1.0 * size / t + 1e-3  # a fifth of the speed
        assert ops[name]["length"] <= max(1, round(0.1 * t))  # a tenth of the clip
    assert ops["zoom"]["rate"] <= 0.3 / t + 1e-4
    amplitude = 2.0 * size / 112  # half of the full [2, 4] px at 112 px
    assert np.abs(ops["shake"]["dx"]).max() <= amplitude * 1.0001


def test_strength_moves_each_range_between_the_start_and_full():
    s = ComposeSettings()
    half = ramped(s, 0.5)
    assert half.shift_speed == (0.12, 0.6) and half.zoom_rate == (0.195, 0.65)
    assert half.shake_amplitude == (1.5, 3.0) and half.object_scale == (0.65, 1.0)
    assert half.clone_p == 0.0 and ramped(s, 1.0) is s


def test_an_offline_set_records_its_strength_in_every_clip(tmp_path):
    from fractalvid import ClipReader

    out = generate(build_config("tiny", {**SMALL, "compose_strength": 0}), tmp_path / "z",
                   workers=1).out
    metas = [m for _, _, m in ClipReader(out)]
    assert metas and all(m["compose_strength"] == 0 for m in metas)
    assert not any("clone" in m["ops"] for m in metas)


def test_the_curriculum_ramps_then_equals_the_offline_set(tmp_path):
    cfg = build_config("tiny", SMALL)
    offline = raw_frames(generate(cfg, tmp_path / "full", workers=1).out)
    stream = ClipStream(cfg, curriculum=2)
    epochs = [{m["key"]: (f, m.get("compose_strength")) for f, _, m in stream}
              for _ in range(3)]
    ramp = epochs[0]
    assert [ramp[k][1] for k in sorted(ramp)] == [round(i / 24, 4) for i in range(12)]
    assert any(not np.array_equal(f, offline[k]) for k, (f, _) in ramp.items())
    assert all(s == round((12 + i) / 24, 4) for i, (_, s) in
               enumerate(epochs[1][k] for k in sorted(epochs[1])))
    # a clip on the ramp is the offline clip made at its recorded strength
    key = sorted(ramp)[5]
    strength = ramp[key][1]
    at = raw_frames(generate(build_config("tiny", {**SMALL, "compose_strength": strength}),
                             tmp_path / "at", workers=1).out)
    assert np.array_equal(ramp[key][0], at[key])
    # after the ramp: the offline set exactly, and no strength recorded
    assert sorted(epochs[2]) == sorted(offline)
    assert all(np.array_equal(f, offline[k]) and s is None for k, (f, s) in epochs[2].items())


def test_the_ramp_is_that_of_the_config_strength_and_of_the_baselines(tmp_path):
    stream = ClipStream({**SMALL, "compose_strength": 0.5}, curriculum=4)
    assert max(stream.strengths(3).values()) < 0.5 and stream.strengths(4) == {}
    perlin = ClipStream({"generator": "perlin", "classes": 2, "train_per_class": 2,
                         "val_per_class": 0, "resolution": 32, "shift_p": 1.0},
                        curriculum=1)
    metas = [m for _, _, m in perlin]
    assert [m["compose_strength"] for m in metas] == [0.0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_a_curriculum_that_is_not_a_count_of_epochs_is_named(bad):
    with pytest.raises(ValueError, match="curriculum"):
        ClipStream(SMALL, curriculum=bad)


def test_an_epoch_on_the_ramp_deals_its_blocks_once(monkeypatch):
    """The plan and the ramp of an epoch share one shuffled block order."""
    from fractalvid.pipelines import stream as module

    calls = []
    real = module.epoch_blocks
    monkeypatch.setattr(module, "epoch_blocks", lambda *a, **k: calls.append(a) or real(*a, **k))
    s = ClipStream(build_config("tiny", SMALL), shuffle=True, infinite=True, curriculum=3)
    calls.clear()
    first = [m["key"] for _, _, m in s]
    assert len(calls) == 1
    ramp = s.strengths(0)  # the same epoch again: no new order
    assert len(calls) == 1 and sorted(ramp) == sorted(first)

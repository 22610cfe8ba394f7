"""What a QA sweep found outside object storage: ClipStream's counts over ranks, damaged raw
members, arguments checked at the door, fork safety, scheduler indices, and --time-limit."""

import io
import json
import shlex
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fractalvid import ClipReader, ClipStream, build_config, generate, verify
from fractalvid.pipelines.cluster import array_task
from fractalvid.pipelines.config import ConfigError
from fractalvid.pipelines.timelimit import parse_duration
from fractalvid.shards.reader import ClipError

from outputs import digests, small_args

SMALL = {"classes": 5, "train_per_class": 5, "val_per_class": 1, "resolution": 32,
         "chains": 8, "iterations": 300, "burn_in": 10, "shard_size": 10}


def _counts(stream, epoch):
    return sum(len(keep) for _, keep in stream.my_blocks(epoch))


# 1-4. ClipStream's counts over ranks ---------------------------------------------------------


@pytest.mark.parametrize("world", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("even", [True, False])
def test_every_rank_gets_the_same_count_every_epoch_and_len_says_it(world, shuffle, even):
    streams = [ClipStream(SMALL, rank=r, world_size=world, shuffle=shuffle, even=even)
               for r in range(world)]
    total = 25
    for epoch in range(4):
        counts = [_counts(s, epoch) for s in streams]
        assert counts == [len(s) for s in streams]
        keys = [k.key for s in streams for _, keep in s.my_blocks(epoch) for k in keep]
        assert len(keys) == len(set(keys))  # no clip twice
        if even:
            assert counts == [total // world] * world  # at most world - 1 dropped
        else:
            assert sum(counts) == total


def test_what_a_rank_yields_is_what_len_says(tmp_path):
    for rank in range(2):
        stream = ClipStream(SMALL, rank=rank, world_size=2, shuffle=True)
        for _ in range(2):
            assert sum(1 for _ in stream) == len(stream) == 12


def test_a_world_larger_than_the_clips_is_an_error():
    with pytest.raises(ValueError, match="5 val clips cannot be split over 6 ranks"):
        ClipStream(SMALL, split="val", world_size=6, rank=0)


# 5-7. Damaged raw members ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "ds"
    cfg = build_config("tiny", {**SMALL, "classes": 2, "train_per_class": 2, "val_per_class": 0,
                                "codec": "raw", "shard_size": 4})
    generate(cfg, out, workers=1)
    return out


def _with_member(raw_set, tmp_path, data):
    """A copy of ``raw_set`` whose first clip's npy.zst member is ``data``."""
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(raw_set, out)
    tar_path = out / "train-000000.tar"
    members = []
    with tarfile.open(tar_path) as tar:
        for m in tar:
            members.append((m, tar.extractfile(m).read()))
    first = members[0][0].name.split(".")[0]
    with tarfile.open(tar_path, "w") as tar:
        for m, blob in members:
            if m.name == f"{first}.npy.zst":
                blob = data
            m.size = len(blob)
            tar.addfile(m, io.BytesIO(blob))
    return out, first


def _huge_header():
    """A zstd frame whose header claims 2^40 bytes of content."""
    import zstandard

    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * 100)
    params = zstandard.get_frame_parameters(frame)
    assert params.content_size == zstandard.CONTENTSIZE_UNKNOWN
    descriptor = frame[4]
    single = 0x20
    # FCS field of 8 bytes, single segment (no window byte), the checksum flag as it was
    header = bytes([0xC0 | single | (descriptor & 0x04)]) + (1 << 40).to_bytes(8, "little")
    skip = 5 + (0 if descriptor & single else 1)
    return frame[:4] + header + frame[skip:]


def _npy(shape):
    import zstandard

    buf = io.BytesIO()
    np.save(buf, np.zeros(shape, np.uint8))
    return zstandard.ZstdCompressor(write_content_size=True).compress(buf.getvalue())


@pytest.mark.parametrize("member, says", [
    (_huge_header(), "claims 1,099,511,627,776 bytes"),
    (_npy((0, 32, 32)), "holds no frames"),
    (_npy((3, 16, 16)), "its json says"),
])
def test_a_damaged_or_misshapen_raw_member_is_a_clip_error(raw_set, tmp_path, member, says):
    out, key = _with_member(raw_set, tmp_path, member)
    with pytest.raises(ClipError, match=says) as err:
        list(ClipReader(out, frames=8))
    assert err.value.key == key and "train-000000" in err.value.shard
    reader = ClipReader(out, frames=8, handler="skip")
    assert len(list(reader)) == 3 and reader.skipped == 1
    problems = verify(out, deep=True)
    assert any(says in p and key in p for p in problems), problems


# 8-13. Arguments at the door -------------------------------------------------------------------


@pytest.mark.parametrize("config", [None, 5, ["tiny"]])
def test_generate_names_a_config_it_cannot_take(config, tmp_path):
    with pytest.raises(ConfigError, match="expected a Config"):
        generate(config, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_generate_takes_a_dict_of_keys_as_clipstream_does(tmp_path):
    result = generate({**SMALL, "classes": 1, "train_per_class": 2, "val_per_class": 0},
                      tmp_path / "d", workers=1)
    assert result.dataset is not None and result.clips == 2


@pytest.mark.parametrize("kwargs, says", [
    ({"shards": [0]}, "0 is not a shard of this config's plan"),
    ({"workers": -2}, "workers=-2"), ({"workers": 1.5}, "workers=1.5"),
    ({"batch": 0}, "batch=0"),
])
def test_generate_checks_its_arguments_before_any_work(kwargs, says, tmp_path):
    with pytest.raises(ConfigError, match=says):
        generate("tiny", tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_an_empty_out_is_never_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="empty"):
        generate("tiny", "")
    with pytest.raises(ConfigError, match="empty"):
        verify("")
    assert list(tmp_path.iterdir()) == []


def test_config_values_take_numpy_scalars():
    cfg = build_config("tiny", {"classes": np.int64(3), "bg_p": np.float32(0.5),
                                "augment": np.bool_(True), "object_scale": np.array([0.5, 1.0])})
    assert cfg.classes == 3 and cfg.bg_p == 0.5 and cfg.augment is True
    assert tuple(cfg.object_scale) == (0.5, 1.0)


@pytest.mark.parametrize("kwargs, says", [
    ({"batch": 0}, "batch=0"), ({"batch": -5}, "batch=-5"), ({"frames": 2.5}, "frames=2.5"),
    ({"stride": 0}, "stride=0"),
])
def test_clipstream_checks_its_arguments(kwargs, says):
    with pytest.raises(ValueError, match=says):
        ClipStream(SMALL, **kwargs)


@pytest.mark.parametrize("var", ["RANK", "WORLD_SIZE"])
def test_a_rank_variable_that_is_no_number_is_named(var, monkeypatch, raw_set):
    monkeypatch.setenv(var, "abc")
    with pytest.raises(ValueError, match=f"{var}='abc'"):
        ClipStream(SMALL)
    with pytest.raises(ValueError, match=f"{var}='abc'"):
        ClipReader(raw_set)


def test_the_stream_names_the_shard_the_offline_set_puts_a_clip_in(tmp_path):
    cfg = build_config("tiny", {**SMALL, "codec": "raw"})
    generate(cfg, tmp_path / "ds", workers=1)
    offline = {m["key"]: m["shard"] for _, _, m in ClipReader(tmp_path / "ds")}
    streamed = {m["key"]: m["shard"] for _, _, m in ClipStream(cfg)}
    assert streamed == offline and set(offline.values()) == {"train-000000", "train-000001",
                                                              "train-000002"}


# 14. Fork safety ----------------------------------------------------------------------------------


def test_a_forked_dataloader_worker_after_rendering_is_refused_in_one_line(tmp_path):
    pytest.importorskip("torch")
    code = f"""
import torch
from fractalvid import ClipStream
from fractalvid.shards.reader import torch_dataset
stream = ClipStream({SMALL!r})
next(iter(stream))  # renders here, with numba's threads
loader = torch.utils.data.DataLoader(torch_dataset(stream), batch_size=None, num_workers=1,
                                     multiprocessing_context="fork")
try:
    next(iter(loader))
except RuntimeError as exc:
    print("REFUSED" if "forkserver" in str(exc) else "OTHER", flush=True)
"""
    import numba

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    if numba.config.THREADING_LAYER not in ("default", "omp", "safe", "threadsafe"):
        pytest.skip("numba's threading layer is not OpenMP here")
    assert "REFUSED" in run.stdout or "REFUSED" in run.stderr, run.stdout + run.stderr


# 15-18. The command line --------------------------------------------------------------------------


def test_slurm_refuses_a_quote_in_the_path_before_writing_anything(cli, tmp_path):
    out = tmp_path / 'a"b'
    result = cli("slurm", "--out", out, "--tasks", "2")
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "double quote" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("env, says", [
    ({"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "abc"},
     "SLURM_ARRAY_TASK_COUNT='abc' is not a whole number"),
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "2"}, "SLURM_ARRAY_TASK_ID='3'"),
    ({"LSB_JOBINDEX": "0"}, "none of SLURM_ARRAY_TASK_ID"),  # LSF's value outside arrays
])
def test_scheduler_variables_are_named_as_they_are(env, says):
    with pytest.raises(ValueError, match=says):
        array_task(env)


def test_array_tasks_disagreeing_with_the_scheduler_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    result = cli("generate", "--out", tmp_path / "x", "--array-task", "auto",
                 "--array-tasks", "3")
    assert result.exit_code == 2 and "SLURM_ARRAY_TASK_COUNT" in result.output
    assert not (tmp_path / "x").exists()


def test_the_finalize_hint_is_quoted_for_the_shell(cli, tmp_path):
    out = tmp_path / "$HOME `id`"
    result = cli("generate", "--out", out, *small_args(**SMALL), "--shards", "0:1", "--quiet",
                 "--workers", "1")
    assert result.exit_code == 0, result.output
    assert f"run `fractalvid finalize {shlex.quote(str(out))}`" in result.output


def test_a_config_files_preset_and_another_preset_flag_are_refused(cli, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"preset": "paper", "classes": 3}))
    result = cli("plan", "--config", config, "--preset", "tiny")
    assert result.exit_code == 2 and "disagree" in result.output


# --time-limit ----------------------------------------------------------------------------------


@given(h=st.integers(0, 30), m=st.integers(0, 59), s=st.integers(0, 59))
def test_durations_read_in_every_form(h, m, s):
    total = h * 3600 + m * 60 + s
    if total == 0:
        return
    assert parse_duration(f"{h:02d}:{m:02d}:{s:02d}") == total
    assert parse_duration(f"{h}h{m}m{s}s") == total
    assert parse_duration(f"{total}") == total and parse_duration(f"{total}s") == total


@pytest.mark.parametrize("text", ["", "abc", "0", "1:99", "5x", "-3s"])
def test_a_duration_that_is_not_one_is_named(text):
    with pytest.raises(ValueError, match="--time-limit"):
        parse_duration(text)


def test_slurm_passes_the_job_limit_down_with_a_margin(cli, tmp_path):
    result = cli("slurm", "--out", tmp_path / "ds", "--tasks", "2", "--time", "01:00:00")
    assert result.exit_code == 0, result.output
    script = (tmp_path / "ds" / "slurm" / "generate.sbatch").read_text()
    assert "--time-limit 3240s" in script  # an hour less a tenth


def test_a_run_stopped_by_its_time_limit_resumes_to_the_same_bytes(cli, tmp_path, monkeypatch):
    import fractalvid.pipelines.run as run_module

    args = small_args(**SMALL)  # 3 train shards, 1 val shard
    whole = tmp_path / "whole"
    assert cli("generate", "--out", whole, *args, "--quiet", "--workers", "1").exit_code == 0
    ticks = iter(range(0, 10**6, 50))  # a clock that moves 50 s at every look
    monkeypatch.setattr(run_module, "_clock", lambda: next(ticks))
    monkeypatch.setattr(run_module, "_pace", {})
    out = tmp_path / "stopped"
    result = cli("generate", "--out", out, *args, "--quiet", "--workers", "1",
                 "--time-limit", "400s")
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 3 and len(lines) == 1, result.output
    assert "3 of 4 shards of the data set are done" in lines[0] and "resume" in lines[0]
    assert not (out / "dataset.json").exists()
    monkeypatch.undo()
    assert cli("generate", "--out", out, *args, "--quiet", "--workers", "1").exit_code == 0
    assert digests(out) == digests(whole)


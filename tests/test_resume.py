"""Interrupted work resumes and loses nothing; damaged outputs are caught by verify."""

import os
import signal
import subprocess
import sys
import time

import pytest

from fractalvid.gen.render import CpuRenderer
from fractalvid.pipelines.config import build_config
from fractalvid.pipelines.plan import plan_shards
from fractalvid.pipelines.shard import run_shard

from outputs import digests

ARGS = ["--set", "classes=3", "--set", "train_per_class=4", "--set", "val_per_class=1",
        "--set", "shard_size=3", "--set", "resolution=64", "--set", "chains=32",
        "--set", "iterations=3000", "--set", "burn_in=20"]  # fmt: skip


def generate(out, *extra):
    cmd = [sys.executable, "-m", "fractalvid", "generate", "--out", str(out), *ARGS,
           "--workers", "1", "--quiet", *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_9_mid_shard_then_rerun_equals_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    assert generate(whole).wait(timeout=300) == 0

    out = tmp_path / "killed"
    proc = generate(out)
    deadline = time.time() + 120
    # wait until a shard after the first is being written (a temporary tar exists)
    while time.time() < deadline:
        if (out / "train-000000.stats.json").exists() and list(out.glob(".train-*.tar.*.tmp")):
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("generate never reached a second shard")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob(".*.tmp")), "the kill should leave a partial temporary file"
    done = {p.name for p in out.glob("*.tar")}
    for name in done:  # whatever is visible under a final name is complete
        assert (out / name).read_bytes() == (whole / name).read_bytes()

    assert generate(out).wait(timeout=300) == 0
    assert digests(out) == digests(whole)
    assert not list(out.glob(".*.tmp")), "temporaries are cleaned up on restart"


def test_failed_write_leaves_no_shard_under_a_final_name(tmp_path, monkeypatch):
    cfg = build_config("tiny", {k: v for k, v in (a.split("=") for a in ARGS[1::2])})
    shard = plan_shards(cfg)[0]

    import fractalvid.shards.tarwriter as tw

    real_add = tw.TarShardWriter.add
    calls = {"n": 0}

    def failing_add(self, key, members):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_add(self, key, members)

    monkeypatch.setattr(tw.TarShardWriter, "add", failing_add)
    with pytest.raises(OSError, match="No space left"):
        run_shard(cfg, shard, tmp_path, CpuRenderer())
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("fin") / "ds"
    assert generate(out).wait(timeout=300) == 0
    return out


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_parquet"])
def test_verify_detects_damage(finished, tmp_path, damage, cli):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    tar = copy / "train-000001.tar"
    if damage == "truncate":
        data = tar.read_bytes()
        tar.write_bytes(data[: len(data) // 3])
    elif damage == "flip":
        data = bytearray(tar.read_bytes())
        data[700] ^= 0x01
        tar.write_bytes(bytes(data))
    else:
        (copy / "train-000001.parquet").unlink()
    result = cli("verify", copy)
    assert result.exit_code == 1
    assert "train-000001" in result.output
    assert cli("verify", finished).exit_code == 0

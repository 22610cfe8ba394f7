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

from outputs import damaged_copy, digests

ARGS = ["--set", "classes=3", "--set", "train_per_class=4", "--set", "val_per_class=1",
        "--set", "shard_size=3", "--set", "resolution=64", "--set", "chains=32",
        "--set", "iterations=3000", "--set", "burn_in=20"]


def generate(out, *extra):
    cmd = [sys.executable, "-m", "fractalvid", "generate", "--out", str(out), *ARGS,
           "--workers", "1", "--quiet", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop_mid_shard(proc, out, signum):
    """Send ``signum`` once a shard after the first is being written (a temporary tar)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "train-000000.stats.json").exists() and list(out.glob(".train-*.tar@*.tmp")):
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("generate never reached a second shard")
    os.kill(proc.pid, signum)
    proc.wait(timeout=60)


@pytest.mark.slow
def test_kill_9_mid_shard_then_rerun_equals_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    assert generate(whole).wait(timeout=300) == 0

    out = tmp_path / "killed"
    proc = generate(out)
    _stop_mid_shard(proc, out, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob(".*.tmp")), "the kill should leave a partial temporary file"
    done = {p.name for p in out.glob("*.tar")}
    for name in done:  # whatever is visible under a final name is complete
        assert (out / name).read_bytes() == (whole / name).read_bytes()

    assert generate(out).wait(timeout=300) == 0
    assert digests(out) == digests(whole)
    assert not list(out.glob(".*.tmp")), "temporaries are cleaned up on restart"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_sigterm_sighup_or_ctrl_c_stops_with_one_line_and_a_rerun_finishes(tmp_path, signum):
    """What a scheduler's time limit (SIGTERM) or Ctrl-C leaves: a line saying how to go on,
    exit 128 + signal, and nothing lost; two workers, as a real run has."""
    out = tmp_path / "stopped"
    proc = generate(out, "--workers", "2")
    _stop_mid_shard(proc, out, signum)
    assert proc.returncode == 128 + signum
    err = proc.stderr.read().decode()
    name = signal.Signals(signum).name
    line = f"Error: stopped by {name}: finished shards are kept in {out}; rerun the same command"
    assert f"{line} to resume" in err.splitlines()
    # (loky's resource tracker may still note, rarely, a lock of a killed worker it cleaned up)
    assert "Traceback" not in err
    assert generate(out).wait(timeout=300) == 0
    assert subprocess.run([sys.executable, "-m", "fractalvid", "verify", str(out)]).returncode == 0


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


def test_a_restart_removes_only_what_no_live_process_writes(tmp_path):
    """Two runs making the same shard at once (a run started twice, a requeued task beside
    its first try) both finish it; a dead writer's leftovers go."""
    from fractalvid.shards.atomic import STALE_SECONDS, _host, abandoned, remove_temporaries

    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        host = _host()
        names = {
            f".train-000000.tar@{host}.{live.pid}.tmp": False,  # still writing
            f".train-000000.parquet@{host}.{dead.pid}.tmp": True,
            f".train-000000.stats.json@{host}.{os.getpid()}.tmp": True,  # this process's own
            ".train-000000.tar@other-node.12345.tmp": False,  # unknowable: by its age
            ".train-000000.tar.4321.tmp": True,  # an older version's name
            ".train-000001.tar@x.1.tmp": False,  # another shard: not asked about
        }
        for name in names:
            (tmp_path / name).write_bytes(b"partial")
        gone = {p.name for p in remove_temporaries(tmp_path, "train-000000")}
        assert gone == {n for n, goes in names.items() if goes}
        other = tmp_path / ".train-000000.tar@other-node.12345.tmp"
        later = other.stat().st_mtime + STALE_SECONDS + 1
        assert abandoned(other, now=later) and not abandoned(other, now=later - 2)
    finally:
        live.kill()
        live.wait()


def test_a_shard_being_written_elsewhere_is_left_to_its_writer(tmp_path):
    from fractalvid.shards.atomic import _host

    live = subprocess.Popen(["sleep", "60"])
    try:
        out = tmp_path / "ds"
        assert generate(out, "--shards", "0:1").wait(timeout=300) == 0
        (out / "train-000000.stats.json").unlink()  # the shard is to be made again
        theirs = out / f".train-000000.tar@{_host()}.{live.pid}.tmp"
        theirs.write_bytes(b"half a shard")
        assert generate(out, "--shards", "0:1").wait(timeout=300) == 0
        assert theirs.read_bytes() == b"half a shard"
    finally:
        live.kill()
        live.wait()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("fin") / "ds"
    assert generate(out).wait(timeout=300) == 0
    return out


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_parquet"])
def test_verify_detects_damage(finished, tmp_path, damage, cli):
    import shutil

    copy = tmp_path / "copy"
    if damage == "flip":
        damaged_copy(finished, copy, "train-000001.tar", at=700)
    else:
        shutil.copytree(finished, copy)
    tar = copy / "train-000001.tar"
    if damage == "truncate":
        data = tar.read_bytes()
        tar.write_bytes(data[: len(data) // 3])
    elif damage == "drop_parquet":
        (copy / "train-000001.parquet").unlink()
    result = cli("verify", copy)
    assert result.exit_code == 1
    assert "train-000001" in result.output
    assert cli("verify", finished).exit_code == 0


def test_verify_in_parallel_finds_what_one_thread_finds_in_shard_order(finished, tmp_path):
    from fractalvid.shards.verify import verify

    copy = damaged_copy(finished, tmp_path / "copy", "train-000000.tar", at=700)
    (copy / "val-000000.parquet").unlink()
    (copy / "train-000002.tar").write_bytes(b"")
    alone = verify(copy, deep=True, workers=1)
    assert [p.split(":")[0] for p in alone] == [
        "train-000000.tar", "train-000002.tar", "train-000002.tar", "val-000000.parquet"]
    assert verify(copy, deep=True, workers=4) == alone
    assert verify(finished, deep=True, workers=4) == []


def test_a_damaged_shard_parquet_is_made_again_not_finalized(finished, tmp_path):
    """The done marker vouches for the Parquet's checksum too: a rerun remakes the shard
    instead of copying damaged rows into clips.parquet."""
    copy = damaged_copy(finished, tmp_path / "copy", "train-000001.parquet")
    proc = generate(copy)
    assert proc.wait(timeout=300) == 0
    assert "1 shard made, 4 already done" in proc.stderr.read().decode()
    assert digests(copy) == digests(finished)

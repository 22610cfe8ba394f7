"""What fractalvid promises about a user's files, damage and failures (issue: never lose a
user's file, one line for every failure)."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fractalvid.pipelines.config import ConfigError, build_config
from fractalvid.pipelines.outdir import claim_output

from outputs import damaged_copy, digests, generate, small_args

S = small_args(classes=4, train_per_class=4, val_per_class=1, shard_size=4, resolution=64,
               chains=16, iterations=400, burn_in=20)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("made") / "ds", S)


def copy_of(made, tmp_path, name="ds"):
    import shutil

    return shutil.copytree(made, tmp_path / name)


def one_line_error(result, *words):
    """A failed command printed one line (no traceback) holding ``words``."""
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    for w in words:
        assert w in lines[0], lines[0]


# 1. A user's files ------------------------------------------------------------------------


def test_a_folder_that_is_no_data_set_is_refused_and_left_alone(cli, tmp_path):
    (tmp_path / "README.md").write_text("precious")
    result = cli("generate", "--out", tmp_path, *S, "--quiet", "--overwrite")
    one_line_error(result, "is not empty (README.md)", "no fractalvid data set")
    assert result.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "precious"


def test_overwrite_deletes_only_what_fractalvid_wrote(cli, made, tmp_path):
    out = copy_of(made, tmp_path)
    mine = {"mydata.parquet": b"PAR1 mine", "backup.tar": b"my backup", "notes.txt": b"notes"}
    for name, data in mine.items():
        (out / name).write_bytes(data)
    result = cli("generate", "--out", out, *S, "--set", "seed=5", "--overwrite", "--quiet",
                 "--workers", "1")
    assert result.exit_code == 0, result.output
    for name, data in mine.items():
        assert (out / name).read_bytes() == data
    assert json.loads((out / "dataset.json").read_text())["seed"] == 5
    assert cli("verify", out, "--quiet").exit_code == 0


def test_the_card_is_not_written_over_a_readme_the_user_changed(cli, made, tmp_path):
    out = copy_of(made, tmp_path)
    (out / "README.md").write_text("my notes on this data set")
    result = cli("finalize", out)
    assert result.exit_code == 0, result.output
    assert (out / "README.md").read_text() == "my notes on this data set"
    assert "README.md: left as it is" in result.output
    (out / "README.md").unlink()  # once it is gone, the card comes back
    cli("finalize", out)
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "\n# Fractal video data set" in card


def test_preview_keeps_a_png_it_did_not_write(cli, made, tmp_path):
    out = copy_of(made, tmp_path)
    assert cli("preview", out, "--rows", "2").exit_code == 0  # its own: replaced
    (out / "preview.png").write_bytes(b"my picture")
    one_line_error(cli("preview", out), "preview.png: not as fractalvid wrote it")
    assert (out / "preview.png").read_bytes() == b"my picture"


@pytest.mark.parametrize("command", ["generate", "finalize", "verify", "stats", "preview"])
def test_an_empty_out_does_not_mean_the_current_folder(cli, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--out", ""] if command == "generate" else [""]
    one_line_error(cli(command, *args), "empty")
    assert list(tmp_path.iterdir()) == []


# 3. finalize repairs dataset.json from the other records --------------------------------


@pytest.mark.parametrize("damage", ["truncated", "empty object", "and config.json too"])
def test_finalize_rebuilds_a_damaged_dataset_json(cli, made, tmp_path, damage):
    out = copy_of(made, tmp_path)
    text = (out / "dataset.json").read_text()
    (out / "dataset.json").write_text(text[: len(text) // 2] if damage == "truncated" else "{}")
    if damage == "and config.json too":  # then the shards' own records hold the config
        (out / "config.json").write_text('{"fingerprint": ')
    result = cli("finalize", out)
    assert result.exit_code == 0, result.output
    assert digests(out) == digests(made)


def test_a_damaged_config_json_is_repaired_from_dataset_json(cli, made, tmp_path):
    out = copy_of(made, tmp_path)
    (out / "config.json").write_text("{")
    result = cli("generate", "--out", out, *S, "--quiet", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["fingerprint"] == \
        json.loads((out / "dataset.json").read_text())["fingerprint"]
    (out / "config.json").write_text("{")
    other = cli("generate", "--out", out, *S, "--set", "seed=9", "--quiet")
    one_line_error(other, "another config")  # still guarded, by dataset.json


def test_a_data_set_an_older_fractalvid_made_is_not_mixed_with_new_frames(cli, made, tmp_path):
    """Renderer generation 1 (fractalvid 0.2: float64) made other frames from the same config:
    its half-made data set is neither extended nor finalized by this version, and says so;
    --overwrite makes it anew. verify still checks it (it checks bytes against records)."""
    from fractalvid.pipelines.outdir import config_of

    out = copy_of(made, tmp_path)
    old = config_of(out).fingerprint(renderer=1)
    for record in [out / "config.json", out / "dataset.json", *out.glob("*.stats.json")]:
        data = json.loads(record.read_text())
        data["fingerprint"] = old
        record.write_text(json.dumps(data))
    assert cli("verify", out, "--quiet").exit_code == 0
    (out / "val-000000.stats.json").unlink()  # a shard still to make
    before = digests(out)
    one_line_error(cli("generate", "--out", out, *S, "--quiet"),
                   "made by fractalvid 0.2 or older", "--overwrite")
    one_line_error(cli("finalize", out), "made by fractalvid 0.2 or older", "that version")
    assert digests(out) == before
    result = cli("generate", "--out", out, *S, "--quiet", "--workers", "1", "--overwrite")
    assert result.exit_code == 0, result.output
    assert digests(out) == digests(made)


# 4. The fingerprint guard is atomic --------------------------------------------------------


def _claim(seed, out, barrier, results):
    barrier.wait()
    try:
        claim_output(build_config("tiny", {"seed": str(seed)}), out)
        results.put((seed, "won"))
    except ConfigError:
        results.put((seed, "refused"))


def test_two_configs_claiming_a_new_folder_at_once_cannot_both_win(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(40):
        out = tmp_path / f"t{trial}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_claim, args=(seed, out, barrier, results))
                 for seed in (1, 2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcome = dict(results.get(timeout=5) for _ in procs)
        assert sorted(outcome.values()) == ["refused", "won"], outcome
        winner = next(seed for seed, o in outcome.items() if o == "won")
        fingerprint = build_config("tiny", {"seed": str(winner)}).fingerprint()
        assert json.loads((out / "config.json").read_text())["fingerprint"] == fingerprint


# 6. verify finds damage beyond the shards' checksums ---------------------------------------


def _cut_index(out):
    index = json.loads((out / "index.train.json").read_text())
    index["shardlist"] = index["shardlist"][:2]
    (out / "index.train.json").write_text(json.dumps(index))


DAMAGE = {
    "a 100-byte classes.parquet": (lambda out: (out / "classes.parquet").write_bytes(
        (out / "classes.parquet").read_bytes()[:100]), "classes.parquet: unreadable"),
    "an index cut to 2 of 4 shards": (_cut_index, "index.train.json: lists 2 shards, not the 4"),
    "a deleted index": (lambda out: (out / "index.val.json").unlink(), "index.val.json: missing"),
    "a deleted done marker": (lambda out: (out / "train-000001.stats.json").unlink(),
                              "train-000001.stats.json: missing"),
    "a corrupt done marker": (lambda out: (out / "val-000000.stats.json").write_text('{"a": 1}'),
                              "val-000000.stats.json: does not match dataset.json"),
    "a wrongly shaped dataset.json": (lambda out: (out / "dataset.json").write_text(
        '{"shards": 5}'), "dataset.json: not as finalize writes it"),
}


@pytest.mark.parametrize("what", sorted(DAMAGE))
def test_verify_names_damage_it_used_to_miss(cli, made, tmp_path, what):
    out = copy_of(made, tmp_path)
    damage, says = DAMAGE[what]
    damage(out)
    result = cli("verify", out, "--quiet")
    assert result.exit_code == 1 and says in result.output, result.output
    assert "Traceback" not in result.output


def test_verify_names_the_clip_whose_bytes_were_flipped(cli, made, tmp_path):
    import tarfile

    with tarfile.open(made / "train-000000.tar") as tar:
        member = next(m for m in tar if m.name.endswith(".mp4"))
    at = member.offset_data + member.size - 50  # inside the coded frames: ffmpeg still decodes
    out = damaged_copy(made, tmp_path / "ds", "train-000000.tar", at=at)
    result = cli("verify", out, "--quiet", "--deep")
    key = member.name.split(".")[0]
    assert f"train-000000.tar: clip {key}: its mp4 differs from the sha256 in its json" in \
        result.output


# 7. A full disk or read-only storage: one line --------------------------------------------


@pytest.mark.parametrize("err, says", [(errno.ENOSPC, "no space left on the device"),
                                       (errno.EROFS, "cannot write there")])
def test_finalize_and_preview_failing_to_write_say_so_in_one_line(cli, made, tmp_path,
                                                                  monkeypatch, err, says):
    from fractalvid.shards.store import LocalStore

    out = copy_of(made, tmp_path)

    def fail(self, name, data):
        raise OSError(err, os.strerror(err), str(self.folder / name))

    monkeypatch.setattr(LocalStore, "write", fail)
    one_line_error(cli("finalize", out), says)
    (out / "preview.png").unlink()
    one_line_error(cli("preview", out), says)


def test_a_tar_abandoned_on_a_full_disk_leaves_no_temporary(tmp_path, monkeypatch):
    from fractalvid.shards.tarwriter import TarShardWriter

    writer = TarShardWriter(tmp_path / "x.tar")
    writer.add("000000000", {"json": b"{}"})

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer._fh, "write", full)
    monkeypatch.setattr(writer._fh, "close", full)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


# 8. Tracebacks where one line belongs ---------------------------------------------------------


def test_a_config_file_that_is_not_utf8_is_named(cli, tmp_path):
    (tmp_path / "c.json").write_bytes(b'\xff\xfe{"seed": 1}')
    result = cli("generate", "--config", tmp_path / "c.json", "--out", tmp_path / "o")
    one_line_error(result, "not UTF-8")
    assert not (tmp_path / "o").exists()


def test_keys_beside_a_nested_config_are_not_ignored_silently(cli, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"config": {"seed": 3}, "classes": 7}))
    one_line_error(cli("plan", "--config", tmp_path / "c.json"), "classes beside \"config\"")


def test_a_done_marker_lacking_fields_is_remade_not_a_keyerror(cli, made, tmp_path):
    out = copy_of(made, tmp_path)
    marker = out / "train-000002.stats.json"
    marker.write_text(json.dumps({"count": 4}))
    assert cli("verify", out, "--quiet").exit_code == 1
    result = cli("generate", "--out", out, *S, "--quiet", "--workers", "1")
    assert result.exit_code == 0 and "1 shard made" in result.output, result.output
    assert digests(out) == digests(made)


def _fractalvid(out, *extra):
    args = small_args(classes=3, train_per_class=8, shard_size=2, resolution=64,
                      iterations=400000)
    cmd = [sys.executable, "-m", "fractalvid", "generate", "--out", str(out), *args, "--quiet",
           *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(pid, wait=60):
    """The worker processes (loky's) of ``pid``, once they run."""
    deadline = time.time() + wait
    while time.time() < deadline:
        kids = []
        for entry in os.listdir("/proc"):
            try:
                ppid = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]
                args = open(f"/proc/{entry}/cmdline", "rb").read()
            except (OSError, IndexError):
                continue
            if ppid == str(pid) and b"LokyProcess" in args:
                kids.append(int(entry))
        if len(kids) == 2:
            return kids
        time.sleep(0.1)
    pytest.fail("no workers appeared")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = open(f"/proc/{pid}/stat").read().split()
    return stat[2] != "Z"


@pytest.mark.slow
def test_a_killed_worker_is_one_line_and_workers_outlive_no_killed_parent(tmp_path):
    proc = _fractalvid(tmp_path / "a", "--workers", "2")
    worker = _children(proc.pid)[0]
    os.kill(worker, signal.SIGKILL)  # as the out-of-memory killer does
    _, err = proc.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.startswith("Error")]
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert len(lines) == 1 and "a worker process was killed" in lines[0]

    proc = _fractalvid(tmp_path / "b", "--workers", "2")
    workers = _children(proc.pid)
    proc.kill()  # kill -9 of the main process: the workers notice and go
    proc.wait()
    deadline = time.time() + 20
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "orphaned workers kept running"


# 10. Smaller -----------------------------------------------------------------------------------


def test_slurm_paths_with_spaces_are_quoted(cli, tmp_path):
    out = tmp_path / "my data"
    result = cli("slurm", "--out", out, *S, "--tasks", "2")
    assert result.exit_code == 0, result.output
    script = (out / "slurm" / "generate.sbatch").read_text()
    assert f'#SBATCH --output="{out}/slurm/logs/generate_%A_%a.out"' in script
    assert f"jid=$(sbatch --parsable '{out}/slurm/generate.sbatch')" in result.output


def test_finalize_reads_the_classes_from_the_shards_and_draws_nothing(cli, made, tmp_path,
                                                                       monkeypatch):
    import pyarrow.parquet as pq

    import fractalvid.gen.fractal as clips
    from fractalvid.pipelines.finalize import classes_table
    from fractalvid.pipelines.outdir import config_of

    out = copy_of(made, tmp_path)
    (out / "classes.parquet").unlink()
    drawn = classes_table(config_of(out))  # drawn and screened again, as finalize once did

    def no_drawing(*args):
        raise AssertionError("finalize drew a class again")

    monkeypatch.setattr(clips, "class_for", no_drawing)
    assert cli("finalize", out).exit_code == 0
    assert pq.read_table(out / "classes.parquet").equals(drawn)
    assert digests(out) == digests(made)

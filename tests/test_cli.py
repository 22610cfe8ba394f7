"""Command-line contract: bad input fails fast with one line and exit 2, and writes nothing."""

import json

import pytest

from fractalvid.pipelines.config import ConfigError, build_config

SMALL = ["--set", "classes=2", "--set", "train_per_class=2", "--set", "val_per_class=1",
         "--set", "resolution=32", "--set", "chains=8", "--set", "iterations=200",
         "--set", "burn_in=10"]  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("colour=true", "colour"),
        ("classes=many", "classes"),
        ("classes=0", "classes"),
        ("resolution=255", "resolution"),
        ("augment=perhaps", "augment"),
        ("labels=2", "labels"),
        ("shard_size=-1", "shard_size"),
        ("variations=bent,sparkle", "sparkle"),
        ("codec=mpeg2", "codec"),
        ("novalue", "KEY=VALUE"),
        # limits of the output formats: refused here, not after a shard is half written
        ("seed=-1", "seed"),
        ("seed=9223372036854775808", "seed"),  # int64 column of clips.parquet
        ("classes=40000000", "9-digit keys"),  # 1.2e9 clips
        ("iterations=3000000000", "iterations"),
        ("chains=2000000", "32-bit counts"),  # 2e6 x 1900 points a frame
    ],
)
def test_bad_setting_exits_2_with_one_line_and_writes_nothing(cli, tmp_path, setting, named):
    out = tmp_path / "out"
    result = cli("generate", "--out", out, "--set", setting)
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert named in lines[0]
    assert not out.exists()


def test_the_largest_values_the_formats_hold_are_accepted():
    from fractalvid.pipelines.config import MAX_CLIPS, MAX_POINTS, MAX_SEED, MAX_SHARDS, Config

    assert Config(seed=MAX_SEED).seed == MAX_SEED
    assert Config(classes=MAX_CLIPS, train_per_class=1, val_per_class=0, shard_size=1000)
    assert Config(chains=MAX_POINTS // 1000, iterations=1000, burn_in=0)
    assert Config(classes=MAX_SHARDS, train_per_class=1, val_per_class=0, shard_size=1)
    with pytest.raises(ConfigError, match="6-digit names"):
        Config(classes=MAX_SHARDS + 1, train_per_class=1, val_per_class=0, shard_size=1)


def test_the_largest_seed_survives_into_the_metadata(cli, tmp_path):
    import pyarrow.parquet as pq

    from fractalvid.pipelines.config import MAX_SEED

    out = tmp_path / "out"
    result = cli("generate", "--out", out, *SMALL, "--set", f"seed={MAX_SEED}", "--quiet")
    assert result.exit_code == 0, result.output
    assert set(pq.read_table(out / "clips.parquet").column("seed").to_pylist()) == {MAX_SEED}


def test_an_out_folder_that_cannot_be_made_is_named_in_one_line(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("generate", "--out", blocker / "out", *SMALL)
    assert result.exit_code == 2
    expected = f"Error: --out {blocker / 'out'}: cannot write there (Not a directory)"
    assert result.output.strip() == expected


def test_array_tasks_without_a_task_number_is_refused(cli, tmp_path):
    """Else each task of an array job would make the whole data set."""
    result = cli("generate", "--out", tmp_path / "out", *SMALL, "--array-tasks", "4")
    assert result.exit_code == 2 and "--array-tasks needs --array-task" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_shard_range_is_refused_before_work(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("generate", "--out", out, *SMALL, "--shards", "5:9")
    assert result.exit_code == 2 and "--shards" in result.output
    assert not out.exists()


def test_another_config_into_the_same_folder_is_refused(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("generate", "--out", out, *SMALL, "--quiet").exit_code == 0
    result = cli("generate", "--out", out, *SMALL, "--set", "seed=5", "--quiet")
    assert result.exit_code == 2
    assert "another config" in result.output and "--overwrite" in result.output
    result = cli("generate", "--out", out, *SMALL, "--set", "seed=5", "--overwrite", "--quiet")
    assert result.exit_code == 0
    assert json.loads((out / "dataset.json").read_text())["seed"] == 5


def test_plan_lists_shards_and_tasks(cli):
    result = cli("plan", "--preset", "paper", "--tasks", "4", "--json")
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["clips"] == {"train": 100_000, "val": 5_000}
    assert info["shards"] == {"train": 200, "val": 10}
    assert sum(t["clips"] for t in info["tasks"]) == 105_000
    assert info["points_per_frame"] == 128 * 7300
    # estimates scale with the work: the paper set takes hours of CPU, gigabytes of disk
    assert 5 < info["estimated_core_hours"] < 50 and 1e9 < info["estimated_bytes"] < 2e10
    text = cli("plan", "--preset", "paper", "--tasks", "4").output
    assert "core-hours" in text and "task 3" in text and "GB" in text


def test_presets_and_overrides():
    paper = build_config("paper")
    assert (paper.classes, paper.train_per_class, paper.val_per_class) == (500, 200, 10)
    assert (paper.resolution, paper.chains) == (256, 128)
    assert (paper.iterations, paper.burn_in) == (7500, 200)
    tiny = build_config("tiny", {"seed": "3", "labels": "false", "augment": "true"})
    assert (tiny.seed, tiny.labels, tiny.augment, tiny.classes) == (3, False, True, 10)
    with pytest.raises(ConfigError, match="unknown preset"):
        build_config("huge")


def test_config_file_round_trips(cli, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "paper", "classes": 7}))
    result = cli("plan", "--config", path, "--json")
    assert json.loads(result.output)["config"]["classes"] == 7
    assert json.loads(result.output)["config"]["resolution"] == 256


def test_every_key_round_trips_through_set_as_keys_shows_it(cli):
    from fractalvid.pipelines.config import Config, build_config

    shown = {}
    for line in cli("keys").output.splitlines():
        key, value = line.split()[:2]
        shown[key] = value
    assert set(shown) == set(Config().to_dict())
    assert build_config("tiny", shown) == Config()


def test_a_disk_too_small_is_named_before_work_and_not_after(cli, tmp_path, monkeypatch):
    """A warning line (the estimate may be off, so the run goes on); none once all is made."""
    import shutil

    from fractalvid.pipelines import run

    out = tmp_path / "out"
    full = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(run.shutil, "disk_usage", lambda p: full._replace(free=1000))
    result = cli("generate", "--out", out, "--quiet", *SMALL)
    assert result.exit_code == 0, result.output
    assert f"warning: {out} has 0.00 MB free; the 6 clips still to make need about" in result.output
    again = cli("generate", "--out", out, "--quiet", *SMALL)
    assert again.exit_code == 0 and "warning" not in again.output
    monkeypatch.setattr(run.shutil, "disk_usage", lambda p: full)
    assert "warning" not in cli("generate", "--out", tmp_path / "roomy", "--quiet", *SMALL).output


def test_a_full_disk_mid_run_says_what_to_do(cli, tmp_path, monkeypatch):
    import errno

    from fractalvid.pipelines import run

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run, "run_shards", full)
    result = cli("generate", "--out", tmp_path / "out", *SMALL)
    assert result.exit_code == 1
    assert "no space left on the device of" in result.output and "rerun resumes" in result.output
    assert "Traceback" not in result.output

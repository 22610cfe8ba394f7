"""SLURM array jobs: the written scripts, run as the scheduler would, and a real cluster."""

import os
import shutil
import subprocess

import pytest

from outputs import digests, generate, small_args

SMALL = small_args(classes=3, train_per_class=4, val_per_class=1, shard_size=3, resolution=32,
                   chains=8, iterations=300, burn_in=10)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("local") / "ds", SMALL)


def _body(script):
    """The shell lines of an sbatch script (what a node runs)."""
    return script.read_text()


def test_scripts_request_the_array_and_a_dependent_finalize(cli, tmp_path):
    out = tmp_path / "ds"
    result = cli("slurm", "--out", out, *SMALL, "--tasks", "3", "--throttle", "2",
                 "--cpus-per-task", "2", "--time", "01:00:00", "--mem", "2G")
    assert result.exit_code == 0, result.output
    gen = _body(out / "slurm" / "generate.sbatch")
    fin = _body(out / "slurm" / "finalize.sbatch")
    assert "#SBATCH --array=0-2%2" in gen and "#SBATCH --cpus-per-task=2" in gen
    assert "#SBATCH --time=01:00:00" in gen and "#SBATCH --mem=2G" in gen
    assert "--array-task auto --array-tasks 3" in gen and str(out / "config.json") in gen
    assert "#SBATCH --kill-on-invalid-dep=yes" in fin and " finalize " in fin and " verify " in fin
    assert "--dependency=afterok:$jid" in result.output


def test_the_scripts_run_as_array_tasks_equal_a_local_run(cli, local_run, tmp_path):
    """Run the written scripts the way SLURM does: one process per task index, then finalize."""
    out = tmp_path / "ds"
    assert cli("slurm", "--out", out, *SMALL, "--tasks", "3").exit_code == 0
    for task in range(3):
        env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "3",
               "SLURM_CPUS_PER_TASK": "1"}
        subprocess.run(["bash", str(out / "slurm" / "generate.sbatch")], env=env, check=True)
    assert not (out / "dataset.json").exists()  # tasks do not finalize
    subprocess.run(["bash", str(out / "slurm" / "finalize.sbatch")], check=True)
    assert digests(out) == digests(local_run)


def test_more_tasks_than_shards_is_refused(cli, tmp_path):
    result = cli("slurm", "--out", tmp_path / "x", *SMALL, "--tasks", "50")
    assert result.exit_code == 2 and "only 5 shards" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--time", "4h"), ("--time", "1:2:3:4"), ("--mem", "lots"), ("--mem", "8 G"),
     ("--partition", "gpu\n#SBATCH --exclusive"), ("--account", "a b")],
)
def test_a_value_sbatch_would_refuse_is_named_before_anything_is_written(cli, tmp_path, option,
                                                                          value):
    result = cli("slurm", "--out", tmp_path / "x", *SMALL, "--tasks", "2", option, value)
    assert result.exit_code == 2 and f"{option} {value!r}: expected" in result.output
    assert not (tmp_path / "x").exists()


def test_every_time_format_of_sbatch_is_taken(cli, tmp_path):
    for value in ("90", "90:30", "04:00:00", "2-12", "2-12:30", "2-12:30:00", "UNLIMITED"):
        out = tmp_path / value.replace(":", "_")
        assert cli("slurm", "--out", out, *SMALL, "--tasks", "2", "--time", value).exit_code == 0
        assert f"#SBATCH --time={value}\n" in _body(out / "slurm" / "generate.sbatch")


def _cluster_up() -> str | None:
    """None when a SLURM cluster answers here; else why not."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "sbatch not found (CI starts a single-node cluster with `.ci/slurm up`)"
    try:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                               timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    if state.returncode != 0 or not {"idle", "mixed"} & set(state.stdout.split()):
        return f"no idle SLURM node ({state.stderr.strip() or state.stdout.strip()})"
    return None


def test_real_slurm_array_job_and_finalize_equal_a_local_run(cli, local_run, tmp_path):
    why = _cluster_up()
    if why is not None:
        if os.environ.get("FRACTALVID_REQUIRE_SLURM"):
            pytest.fail(f"FRACTALVID_REQUIRE_SLURM is set but {why}")
        pytest.skip(why)
    out = tmp_path / "my ds"  # a space: the #SBATCH lines must quote it
    result = cli("slurm", "--out", out, *SMALL, "--tasks", "3", "--cpus-per-task", "1",
                 "--submit", "--wait")
    logs = sorted((out / "slurm" / "logs").glob("*.out")) if (out / "slurm").exists() else []
    assert result.exit_code == 0, result.output + "".join(p.read_text() for p in logs)
    assert "submitted array job" in result.output
    assert len([p for p in logs if p.name.startswith("generate_")]) == 3
    assert digests(out) == digests(local_run)

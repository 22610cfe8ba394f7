"""Data sets in object storage, against a real S3 endpoint on 127.0.0.1 (moto's server)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fractalvid.shards.reader import ClipReader

from outputs import broken_store, generate, small_args

pytest.importorskip("moto.server", reason="moto[server] (the test extra)")

S = small_args(classes=3, train_per_class=4, val_per_class=1, shard_size=4, resolution=32,
               chains=8, iterations=300, burn_in=10)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("local") / "ds", S)


def objects(url):
    """{name: bytes} of the data-set objects under ``url`` that a local run writes alike (the
    done markers also record the store's ETags)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    return {p.rsplit("/", 1)[1]: fs.cat_file(p) for p in fs.ls(root, detail=False)
            if p.endswith((".tar", ".parquet", ".json", ".png", ".md"))
            and not p.endswith((".stats.json", "config.json"))}


def local_files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.suffix in (".tar", ".parquet", ".json", ".png", ".md")
            and not p.name.endswith((".stats.json", "config.json"))}


def test_a_set_generated_into_s3_has_the_bytes_of_a_local_run(cli, s3_env, local, tmp_path):
    url = "s3://bkt/plain"
    result = cli("generate", "--out", url, *S, "--quiet", "--workers", "2", "--tmp", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"-> {url}" in result.output and "finalized" in result.output
    assert objects(url) == local_files(local)
    assert not list(tmp_path.glob("*/*.tar")), "uploaded shards leave the scratch folder"
    assert cli("verify", url, "--deep", "--quiet").exit_code == 0
    assert cli("stats", url).exit_code == 0
    # the reader streams the shards from the store
    got = {m["key"]: f for f, _, m in ClipReader(url, split="train")}
    want = {m["key"]: f for f, _, m in ClipReader(local, split="train")}
    assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in got)


def test_verify_names_an_object_altered_in_place(cli, s3_env, tmp_path):
    import fsspec

    url = "s3://bkt/altered"
    assert cli("generate", "--out", url, *S, "--quiet", "--workers", "1",
               "--tmp", tmp_path).exit_code == 0
    fs, root = fsspec.core.url_to_fs(url)
    data = bytearray(fs.cat_file(f"{root}/train-000001.tar"))
    data[len(data) // 2] ^= 0xFF
    fs.pipe_file(f"{root}/train-000001.tar", bytes(data))
    result = cli("verify", url, "--quiet")
    assert result.exit_code == 1 and "train-000001.tar" in result.output, result.output
    # and a rerun of generate remakes it: the store no longer reports the marker's ETag
    assert cli("generate", "--out", url, *S, "--quiet", "--workers", "1",
               "--tmp", tmp_path).exit_code == 0
    assert cli("verify", url, "--quiet").exit_code == 0


@pytest.mark.parametrize("variable", ["--array-task", "JOB_COMPLETION_INDEX",
                                      "AWS_BATCH_JOB_ARRAY_INDEX"])
def test_two_array_tasks_write_disjoint_shards_then_finalize(cli, s3_env, local, tmp_path,
                                                             monkeypatch, variable):
    import fsspec

    url = f"s3://bkt/tasks-{variable.strip('-').lower()}"
    markers = []
    for task in (0, 1):
        if variable == "--array-task":
            extra = ["--array-task", str(task)]
        else:
            monkeypatch.setenv(variable, str(task))
            extra = ["--array-task", "auto"]
        result = cli("generate", "--out", url, *S, *extra, "--array-tasks", "2", "--quiet",
                     "--workers", "1", "--tmp", tmp_path / str(task))
        assert result.exit_code == 0, result.output
        fs, root = fsspec.core.url_to_fs(url)
        fs.invalidate_cache()
        now = {p for p in fs.ls(root, detail=False) if p.endswith(".stats.json")}
        markers.append(now - set().union(*markers))
    assert markers[0] and markers[1] and not markers[0] & markers[1]
    result = cli("finalize", url)
    assert result.exit_code == 0, result.output
    assert objects(url) == local_files(local)


@pytest.mark.parametrize("case, says", [
    ("no such bucket", "no such bucket 'nobucket'"),
    ("no credentials", "no AWS credentials found"),
    ("endpoint down", "cannot reach the endpoint"),
])
def test_a_store_that_will_not_do_is_one_line_before_any_work(cli, s3_env, tmp_path,
                                                              monkeypatch, case, says):
    import fsspec

    url = broken_store(case, monkeypatch, tmp_path)
    try:
        result = cli("generate", "--out", url, *S, "--quiet", "--tmp", tmp_path / "scratch")
    finally:
        fsspec.filesystem("s3").clear_instance_cache()  # made with the settings of this case
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and says in lines[0], result.output
    assert not (tmp_path / "scratch").exists()


def test_kill_9_mid_run_then_resume_gives_the_same_bytes(s3_env, local, tmp_path):
    import fsspec

    url = "s3://bkt/killed"
    args = [sys.executable, "-m", "fractalvid", "generate", "--out", url, *S, "--quiet",
            "--workers", "1", "--tmp", str(tmp_path)]
    proc = subprocess.Popen(args, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    fs, root = fsspec.core.url_to_fs(url)
    deadline = time.time() + 120
    while time.time() < deadline:
        fs.invalidate_cache()
        try:
            if [p for p in fs.ls(root, detail=False) if p.endswith(".stats.json")]:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    fs.invalidate_cache()
    made = [p for p in fs.ls(root, detail=False) if p.endswith(".stats.json")]
    assert 1 <= len(made) < 4, made  # stopped mid-run: some shards up, not all
    again = subprocess.run(args, env=os.environ.copy(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert objects(url) == local_files(local)


def test_webdataset_reads_the_store_through_fractalvid_cat(cli, s3_env, local, tmp_path):
    import webdataset as wds

    url = "s3://bkt/wds"
    assert cli("generate", "--out", url, *S, "--quiet", "--workers", "1",
               "--tmp", tmp_path).exit_code == 0
    exe = f"{sys.executable} -m fractalvid"
    shards = [f"pipe:{exe} cat {url}/train-{i:06d}.tar" for i in range(3)]
    keys = [s["__key__"] for s in wds.WebDataset(shards, shardshuffle=False)]
    assert keys == [m["key"] for _, _, m in ClipReader(local, split="train")]


def test_local_paths_never_import_fsspec(local):
    code = ("import sys; from fractalvid.shards.reader import ClipReader; "
            f"list(ClipReader({str(local)!r})); print('fsspec' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_slurm_for_a_store_keeps_its_scripts_and_logs_on_the_file_system(cli, s3_env, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("slurm", "--out", "s3://bkt/cluster", *S, "--tasks", "2")
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.glob("fractalvid-slurm-*")
    script = (folder / "generate.sbatch").read_text()
    assert "--out s3://bkt/cluster" in script and f'--output="{folder}/logs/' in script
    assert (folder / "config.json").is_file()


def test_wids_reads_the_store_through_a_pipe_index(cli, s3_env, local, tmp_path):
    import json

    import wids

    from fractalvid.shards.reader import WidsInPlace, wids_index

    url = "s3://bkt/wids"
    assert cli("generate", "--out", url, *S, "--quiet", "--workers", "1",
               "--tmp", tmp_path / "scratch").exit_code == 0
    index = tmp_path / "index.train.json"
    index.write_text(json.dumps(wids_index(url, "train")))
    ds = wids.ShardListDataset(str(index), localname=WidsInPlace(tmp_path / "cache"))
    assert len(ds) == 12
    keys = [ds[i]["__key__"] for i in range(len(ds))]
    assert keys == [m["key"] for _, _, m in ClipReader(local, split="train")]


def test_a_failed_upload_is_one_line_and_loses_nothing_uploaded(cli, s3_env, local, tmp_path,
                                                                monkeypatch):
    from fractalvid.shards.store import FsspecStore, StoreError

    url = "s3://bkt/denied"
    real, calls = FsspecStore.put, []

    def denied_once(self, path, name):
        calls.append(name)
        if name == "train-000001.tar":
            raise StoreError(f"{self.url}/{name}: upload failed (AccessDenied)")
        return real(self, path, name)

    monkeypatch.setattr(FsspecStore, "put", denied_once)
    result = cli("generate", "--out", url, *S, "--quiet", "--workers", "1", "--tmp", tmp_path)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "train-000001.tar: upload failed (AccessDenied)" in lines[0]
    assert "a rerun resumes" in lines[0]
    monkeypatch.setattr(FsspecStore, "put", real)
    made = {n for n in objects(url)}
    assert "train-000000.tar" in made and "train-000001.tar" not in made  # the rest stayed
    assert cli("generate", "--out", url, *S, "--quiet", "--workers", "1",
               "--tmp", tmp_path).exit_code == 0
    assert objects(url) == local_files(local)


def test_a_store_holding_another_data_set_is_refused_in_one_line(cli, s3_env, local, tmp_path):
    """Another config's data set, or this config's made by fractalvid 0.2 (another renderer),
    in the store: generate refuses before any work and names which."""
    import json

    import fsspec

    from fractalvid.pipelines.outdir import config_of

    record = json.loads((local / "config.json").read_text())
    record["fingerprint"] = config_of(local).fingerprint(renderer=1)
    fs, root = fsspec.core.url_to_fs("s3://bkt/older")
    fs.pipe_file(f"{root}/config.json", json.dumps(record).encode())
    for args, words in ((S, ("made by fractalvid 0.2 or older", "s3://bkt/older")),
                        ([*S, "--set", "seed=9"], ("another config", "s3://bkt/older"))):
        result = cli("generate", "--out", "s3://bkt/older", *args, "--quiet", "--tmp", tmp_path)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert all(w in lines[0] for w in words), lines[0]
    fs.invalidate_cache()
    assert [p.rsplit("/", 1)[1] for p in fs.ls(root, detail=False)] == ["config.json"]


def test_an_image_set_in_s3_has_the_bytes_of_a_local_run(cli, s3_env, tmp_path):
    images = ["--preset", "images", *small_args(classes=2, train_per_class=4, val_per_class=1,
                                                shard_size=4, resolution=32)]
    here = generate(tmp_path / "here", images)
    url = "s3://bkt/images"
    result = cli("generate", "--out", url, *images, "--quiet", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert objects(url) == local_files(here)
    assert cli("verify", url, "--deep", "--quiet").exit_code == 0
    got = {m["key"]: f for f, _, m in ClipReader(url, split="train")}
    assert len(got) == 8 and all(f.shape == (32, 32, 3) for f in got.values())

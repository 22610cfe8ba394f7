"""A local folder and an object store keep the same promises: one suite over both stores
(a folder, and S3 on 127.0.0.1 through moto's server), plus the cases only a URL has."""

import errno
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.shards.store import LocalStore, PlaceError, StoreError, open_store, plain_name

from outputs import broken_store, small_args

S = small_args(classes=2, train_per_class=4, val_per_class=1, shard_size=2, resolution=32,
               chains=8, iterations=300, burn_in=10)  # 4 train shards, 1 val shard


class Place:
    """Data sets in one kind of store, with the test's own view of their files (plain file
    calls, or fsspec): ``out(name)``, ``put``, ``get``, ``names``, ``delete``."""

    def __init__(self, kind, tmp_path):
        self.kind, self.tmp = kind, tmp_path
        self.base = f"s3://bkt/{uuid.uuid4().hex[:8]}" if kind == "s3" else str(tmp_path / "d")

    def out(self, name="ds"):
        return f"{self.base}/{name}"

    def _fs(self):
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.base)
        fs.invalidate_cache()
        return fs

    def _key(self, out, name):
        return f"{out[len('s3://'):]}/{name}"

    def put(self, out, name, data):
        if self.kind == "s3":
            self._fs().pipe_file(self._key(out, name), data)
        else:
            os.makedirs(out, exist_ok=True)
            with open(f"{out}/{name}", "wb") as fh:
                fh.write(data)

    def get(self, out, name):
        try:
            if self.kind == "s3":
                return self._fs().cat_file(self._key(out, name))
            with open(f"{out}/{name}", "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def names(self, out):
        try:
            if self.kind == "s3":
                return {p.rsplit("/", 1)[1] for p in self._fs().ls(out[5:], detail=False)}
            return set(os.listdir(out)) - {"generate.log"}
        except FileNotFoundError:
            return set()

    def delete(self, out, name):
        if self.kind == "s3":
            self._fs().rm_file(self._key(out, name))
        else:
            os.unlink(f"{out}/{name}")


@pytest.fixture(params=["local", "s3"])
def place(request, tmp_path):
    if request.param == "s3":
        request.getfixturevalue("s3_env")
    return Place(request.param, tmp_path)


def run(cli, *args):
    return cli(*[str(a) for a in args])


def one_line(result, code, *words):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == code and len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def generate(cli, out, *extra, tmp=None, code=0):
    args = ["generate", "--out", out, *S, "--quiet", "--workers", "1", *extra]
    if tmp is not None:
        args += ["--tmp", tmp]
    result = run(cli, *args)
    assert result.exit_code == code, result.output
    return result


# 1. Names read from a store are data -------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("./\\a.b0\x00"), min_size=1, max_size=12)
       | st.text(min_size=1, max_size=12))
def test_no_name_given_to_a_store_reaches_outside_its_folder(name):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "a" / "out"
        root.mkdir(parents=True)
        (root.parent / "victim").write_bytes(b"mine")
        store = LocalStore(root)
        for act in (lambda: store.write(name, b"x"), lambda: store.create(name, b"x"),
                    lambda: store.delete(name), lambda: store.write(name, b"x")):
            try:
                act()
            except (StoreError, OSError):  # refused, or a name the file system will not take
                pass
        made = sorted(p for p in Path(tmp).rglob("*") if p not in (root, root.parent))
        assert made == sorted([root.parent / "victim", *([root / name] if plain_name(name)
                                                          and (root / name).exists() else [])])
        assert (root.parent / "victim").read_bytes() == b"mine"


@pytest.mark.parametrize("text, kind", [
    ("data/x", LocalStore), ("file:///tmp/w/x", LocalStore), ("/abs/path", LocalStore),
])
def test_local_places_and_file_urls_are_folders(text, kind):
    store = open_store(text)
    assert isinstance(store, kind) and str(store.folder) == text.removeprefix("file://")


@pytest.mark.parametrize("text, says", [
    ("foo://b/x", "unknown storage protocol 'foo'"), ("s3://", "names no bucket"),
    ("s3:///x", "names no bucket"), ("file://", "names no folder"),
])
def test_a_place_that_cannot_be_is_named_before_anything_is_contacted(text, says):
    with pytest.raises(PlaceError, match=says):
        open_store(text)


def test_preview_refuses_a_shard_name_clips_parquet_makes_up(cli, place, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = place.out()
    generate(cli, out, tmp=tmp_path / "s")
    table = pq.read_table(pa.BufferReader(place.get(out, "clips.parquet")))
    shards = pa.array(["../../../victim"] * table.num_rows)
    table = table.set_column(table.column_names.index("shard"), "shard", shards)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    place.put(out, "clips.parquet", sink.getvalue().to_pybytes())
    place.delete(out, "preview.png")
    one_line(run(cli, "preview", out), 1, "victim", "not one of fractalvid's")


@pytest.mark.parametrize("field", ["url", "name"])
def test_verify_never_touches_a_file_a_dataset_json_names_outside_out(cli, place, tmp_path,
                                                                       field):
    out = place.out()
    generate(cli, out, tmp=tmp_path / "scratch")
    victim = tmp_path / "w" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"a user's file")
    (victim.parent / "victim.txt.parquet").write_bytes(b"another")
    dataset = json.loads(place.get(out, "dataset.json"))
    dataset["shards"][0][field] = "../" * 12 + str(victim).lstrip("/")
    place.put(out, "dataset.json", json.dumps(dataset).encode())
    result = run(cli, "verify", out, "--quiet")
    assert result.exit_code == 1, result.output
    assert "not a shard of its plan" in result.output, result.output
    assert victim.read_bytes() == b"a user's file"
    assert (victim.parent / "victim.txt.parquet").read_bytes() == b"another"


# 2. A second config never writes into a data set --------------------------------------------


def test_a_second_config_is_refused_when_config_json_is_gone(cli, place, tmp_path):
    out = place.out()
    generate(cli, out, "--shards", "0:2", tmp=tmp_path / "s")
    place.delete(out, "config.json")
    before = place.names(out)
    result = generate(cli, out, "--set", "seed=99", "--shards", "0:2", tmp=tmp_path / "s",
                      code=2)
    one_line(result, 2, "another config")
    assert place.names(out) == before


# 3. --overwrite keeps a user's card and preview ---------------------------------------------


def test_overwrite_keeps_a_users_readme_and_preview(cli, place, tmp_path):
    out = place.out()
    generate(cli, out, tmp=tmp_path / "s")
    place.put(out, "README.md", b"my notes")
    place.put(out, "preview.png", b"my picture")
    generate(cli, out, "--set", "seed=99", "--overwrite", tmp=tmp_path / "s")
    assert place.get(out, "README.md") == b"my notes"
    assert place.get(out, "preview.png") == b"my picture"
    assert json.loads(place.get(out, "config.json"))["config"]["seed"] == 99


# 4. A damaged config.json is repaired --------------------------------------------------------


def test_a_damaged_config_json_is_repaired_from_the_shards(cli, place, tmp_path):
    out = place.out()
    generate(cli, out, "--shards", "0:2", tmp=tmp_path / "s")
    place.put(out, "config.json", b'{"fingerprint": ')
    generate(cli, out, tmp=tmp_path / "s")
    assert json.loads(place.get(out, "config.json"))["fingerprint"]
    assert run(cli, "verify", out, "--quiet").exit_code == 0


# 5. file:// is the local folder ----------------------------------------------------------------


def test_a_file_url_is_the_local_folder_it_names(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "w" / "x"
    generate(cli, f"file://{folder}")
    assert (folder / "dataset.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # no ./file:/...
    assert run(cli, "verify", f"file://{folder}", "--quiet").exit_code == 0
    assert run(cli, "stats", f"file://{folder}").exit_code == 0


# 6. A place holding other things is not claimed -----------------------------------------------


def test_a_place_holding_only_a_users_readme_is_refused(cli, place, tmp_path):
    out = place.out()
    place.put(out, "README.md", b"my project")
    result = generate(cli, out, tmp=tmp_path / "s", code=2)
    one_line(result, 2, "README.md", "no fractalvid data set")
    assert place.names(out) == {"README.md"}


def test_out_naming_an_existing_file_or_object_is_refused(cli, place, tmp_path):
    out = place.out()
    generate(cli, out, "--shards", "0:1", tmp=tmp_path / "s")
    before = place.names(out)
    result = generate(cli, f"{out}/train-000000.tar", tmp=tmp_path / "s", code=2)
    one_line(result, 2, "train-000000.tar", "not a folder")
    assert place.names(out) == before
    assert place.get(f"{out}/train-000000.tar", "config.json") is None


# 7-10. One line, not a traceback ----------------------------------------------------------------


@pytest.mark.parametrize("case, says", [
    ("no such bucket", "no such bucket 'nobucket'"),
    ("no credentials", "no AWS credentials"),
    ("endpoint down", "cannot reach the endpoint"),
    ("bad profile", "nosuchprofile"),
])
def test_verify_of_a_store_that_will_not_do_is_one_line(cli, s3_env, tmp_path, monkeypatch,
                                                        case, says):
    import fsspec

    url = broken_store(case, monkeypatch, tmp_path)
    try:
        one_line(run(cli, "verify", url, "--quiet"), 2, says)
    finally:
        fsspec.filesystem("s3").clear_instance_cache()


@pytest.mark.parametrize("command", [["stats"], ["preview"], ["cat"], ["finalize"]])
def test_reading_commands_with_the_endpoint_down_are_one_line(cli, s3_env, tmp_path,
                                                              monkeypatch, command):
    import fsspec

    url = broken_store("endpoint down", monkeypatch, tmp_path)
    target = f"{url}/train-000000.tar" if command == ["cat"] else url
    try:
        result = run(cli, *command, target)
    finally:
        fsspec.filesystem("s3").clear_instance_cache()
    assert result.exit_code in (1, 2)
    one_line(result, result.exit_code, "cannot reach the endpoint")


@pytest.mark.parametrize("command", ["generate", "verify", "finalize", "slurm", "stats"])
def test_an_unknown_protocol_is_one_line(cli, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    args = {"generate": ["generate", "--out", "foo://b/x", *S],
            "slurm": ["slurm", "--out", "foo://b/x", *S, "--tasks", "1"]}.get(
        command, [command, "foo://b/x"])
    one_line(run(cli, *args), 2, "foo://b/x", "protocol 'foo'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["s3://", "s3:///x"])
@pytest.mark.parametrize("command", ["generate", "finalize", "slurm", "verify"])
def test_a_url_without_a_bucket_is_refused_up_front(cli, tmp_path, monkeypatch, url, command):
    monkeypatch.chdir(tmp_path)
    args = {"generate": ["generate", "--out", url, *S],
            "slurm": ["slurm", "--out", url, *S, "--tasks", "1"]}.get(command, [command, url])
    one_line(run(cli, *args), 2, "no bucket")
    assert list(tmp_path.iterdir()) == []


# 11-14. Scratch ---------------------------------------------------------------------------------


def test_two_identical_runs_from_one_host_into_one_store_both_finish(s3_env, tmp_path):
    url = "s3://bkt/twins"
    args = [sys.executable, "-m", "fractalvid", "generate", "--out", url, *S, "--quiet",
            "--workers", "1", "--tmp", str(tmp_path)]
    procs = [subprocess.Popen(args, env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    check = subprocess.run([sys.executable, "-m", "fractalvid", "verify", url, "--quiet"],
                           env=os.environ.copy(), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dead_endpoint_stops_generate_at_the_next_shard(cli, s3_env, tmp_path, monkeypatch):
    import botocore.exceptions
    import s3fs

    import fractalvid.pipelines.run as run_module

    made, real_put, real_shard = [], s3fs.S3FileSystem.put_file, run_module.run_shard

    def counted(*args, **kwargs):
        made.append(args[1].name)
        return real_shard(*args, **kwargs)

    def dies_after_one(self, lpath, rpath, *args, **kwargs):
        if rpath.endswith("train-000000.tar"):
            return real_put(self, lpath, rpath, *args, **kwargs)
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(run_module, "run_shard", counted)
    monkeypatch.setattr(s3fs.S3FileSystem, "put_file", dies_after_one)
    result = run(cli, "generate", "--out", "s3://bkt/dies", *S, "--quiet", "--workers", "1",
                 "--tmp", tmp_path)
    one_line(result, 1, "cannot reach the endpoint", "a rerun resumes")
    assert len(made) <= 3, made  # not all 5: it stopped once an upload had failed
    assert list(tmp_path.iterdir()) == []


def test_a_full_scratch_folder_is_named_as_such(cli, s3_env, tmp_path, monkeypatch):
    import fractalvid.pipelines.run as run_module

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_module, "run_shard", full)
    line = one_line(run(cli, "generate", "--out", "s3://bkt/full", *S, "--quiet", "--workers",
                        "1", "--tmp", tmp_path / "scratch"), 1, "no space left")
    assert str(tmp_path / "scratch") in line and "s3://" not in line.split(":")[0]


def test_a_scratch_folder_that_cannot_be_written_is_refused_before_the_store_is_touched(
        cli, s3_env, tmp_path):
    import fsspec

    (tmp_path / "afile").write_bytes(b"")
    one_line(run(cli, "generate", "--out", "s3://bkt/untouched", *S, "--quiet",
                 "--tmp", tmp_path / "afile" / "scratch"), 2, "afile")
    fs, root = fsspec.core.url_to_fs("s3://bkt/untouched")
    fs.invalidate_cache()
    assert not fs.exists(root + "/config.json")


@pytest.mark.parametrize("fails", [False, True])
def test_a_run_leaves_no_scratch_folder_behind(cli, s3_env, tmp_path, monkeypatch, fails):
    import fractalvid.pipelines.run as run_module

    if fails:
        real = run_module.run_shard

        def second_fails(cfg, shard, *args, **kwargs):
            if shard.name != "train-000000":
                raise RuntimeError("a bug")
            return real(cfg, shard, *args, **kwargs)

        monkeypatch.setattr(run_module, "run_shard", second_fails)
        with pytest.raises(RuntimeError, match="a bug"):
            run(cli, "generate", "--out", "s3://bkt/clean-1", *S, "--quiet", "--workers", "1",
                "--tmp", tmp_path)
    else:
        generate(cli, "s3://bkt/clean-0", tmp=tmp_path)
    assert list(tmp_path.iterdir()) == []

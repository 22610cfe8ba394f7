"""Data sets in object storage (``s3://bucket/prefix`` and other fsspec URLs).

A shard is made in node-local scratch (``--tmp``, or the TMPDIR the scheduler gives), then
uploaded: tar, Parquet, then the done marker. An object appears under its name only once its
upload is complete (a PUT, or a multipart upload's completion), so a partial shard is never
visible, and the marker, last, vouches for the other two. It records their sizes and ETags
(the MD5 of a single-part upload; S3 reports it without the data being read back), and a rerun
counts a shard as done only when the store still reports those. Uploads run on threads of the
main process while the workers make the next shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fractalvid.pipelines.config import Config, ConfigError
from fractalvid.pipelines.outdir import (
    CONFIG_FILE,
    DATASET_FILE,
    SHARD_NAME,
    _config_record,
    _from_record,
    another_data_set,
    config_from,
)
from fractalvid.pipelines.plan import ShardSpec, plan_shards
from fractalvid.pipelines.progress import read_stats, shard_paths
from fractalvid.shards.atomic import json_bytes


class StoreError(RuntimeError):
    """An upload or a read of the store failed; the message names the object."""


def _why(exc: BaseException) -> str:
    """botocore's and s3fs's errors, in a phrase."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "NoCredentials" in name or "credentials" in text.lower():
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " \
               "or a profile)"
    if "EndpointConnectionError" in name or "Connect" in name or "connect" in text.lower():
        return f"cannot reach the endpoint ({text})"
    return text


class Store:
    """One data set's objects under a URL: ``read``, ``write``, ``upload``, ``info``."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        try:
            self._connect(url)
        except ImportError as exc:
            raise ConfigError(f"--out {url}: {exc} (for S3: pip install 'fractalvid[s3]')"
                              ) from None

    def _connect(self, url: str) -> None:
        import fsspec

        options = {}
        if url.startswith("s3://"):  # fail fast on an unreachable endpoint
            options = {"config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                                         "retries": {"max_attempts": 2}},
                       "use_listings_cache": False,  # other writers change the prefix
                       "skip_instance_cache": True}  # the settings as they are now
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        self.root = self.root.rstrip("/")

    def key(self, name: str) -> str:
        return f"{self.root}/{name}"

    def check(self) -> None:
        """One call that fails now, with one line, if the bucket or the credentials or the
        endpoint will not do (ConfigError)."""
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.ls(bucket, refresh=True)
        except FileNotFoundError:
            raise ConfigError(f"--out {self.url}: no such bucket {bucket!r}") from None
        except PermissionError as exc:
            raise ConfigError(f"--out {self.url}: access denied ({_why(exc)})") from None
        except Exception as exc:
            raise ConfigError(f"--out {self.url}: {_why(exc)}") from None

    def names(self) -> list[str]:
        try:
            return sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(self.root, refresh=True,
                                                                   detail=False))
        except FileNotFoundError:
            return []

    def info(self, name: str) -> dict | None:
        try:
            return self.fs.info(self.key(name), refresh=True)
        except FileNotFoundError:
            return None

    def read(self, name: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.key(name))
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes, exclusive: bool = False) -> bool:
        """Put ``data``; with ``exclusive``, only if the object does not exist (False then)."""
        try:
            if exclusive and self.url.startswith("s3://"):
                self.fs.pipe_file(self.key(name), data, IfNoneMatch="*")
            elif exclusive and self.fs.exists(self.key(name)):
                return False
            else:
                self.fs.pipe_file(self.key(name), data)
        except FileExistsError:
            return False
        except Exception as exc:
            raise StoreError(f"{self.url}/{name}: upload failed ({_why(exc)})") from None
        return True

    def upload(self, local: Path, name: str) -> None:
        try:
            self.fs.put_file(str(local), self.key(name))
        except Exception as exc:
            raise StoreError(f"{self.url}/{name}: upload failed ({_why(exc)})") from None

    def delete(self, name: str) -> None:
        self.fs.rm_file(self.key(name))

    @property
    def place(self) -> str:
        return self.url


def etag(info: dict | None) -> str | None:
    """The store's checksum of an object, where it reports one (S3's ETag), unquoted."""
    if not info:
        return None
    tag = info.get("ETag") or info.get("etag")
    return tag.strip('"') if isinstance(tag, str) else None


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# -- claiming and progress -------------------------------------------------------------------


def claim(cfg: Config, store: Store, overwrite: bool) -> None:
    """The store's counterpart of outdir.claim_output: config.json created only if absent
    (a conditional PUT on S3), another config's data set refused (or, with ``overwrite``, its
    fractalvid objects deleted), a prefix holding other objects refused."""
    mine, record = cfg.fingerprint(), _config_record(cfg)
    for _ in range(3):
        raw = store.read(CONFIG_FILE)
        if raw is None:
            foreign = [n for n in store.names() if not _ours(n)]
            if foreign:
                raise ConfigError(f"{store.url} holds other objects ({', '.join(foreign[:3])}) "
                                  "and is no fractalvid data set; choose a new prefix")
            if store.write(CONFIG_FILE, record, exclusive=True):
                return
            continue
        record_there = _from_record(_parse(raw), CONFIG_FILE)
        theirs = record_there.fingerprint if record_there else None
        if theirs == mine:
            return
        if not overwrite:
            raise ConfigError(another_data_set(store.url, theirs, cfg, "objects"))
        for name in store.names():
            if _ours(name):
                store.delete(name)
        store.write(CONFIG_FILE, record)
        return
    raise ConfigError(f"{store.url}: another run keeps changing {CONFIG_FILE}; try again")


def _ours(name: str) -> bool:
    from fractalvid.pipelines.outdir import GUARDED, PLAIN

    return bool(SHARD_NAME.fullmatch(name)) or name in PLAIN or name in GUARDED


def _parse(raw: bytes | None) -> dict | None:
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def done_marker(store: Store, shard: ShardSpec, cfg: Config) -> dict | None:
    """The shard's done marker, when the store still reports the sizes and ETags it vouches
    for; None otherwise (a partial or altered upload is made again)."""
    stats = _parse(store.read(f"{shard.name}.stats.json"))
    if stats is None or stats.get("fingerprint") != cfg.fingerprint():
        return None
    for ext in ("tar", "parquet"):
        info = store.info(f"{shard.name}.{ext}")
        if not info or info.get("size") != stats.get(f"{ext}_bytes") or \
                etag(info) != stats.get(f"{ext}_etag"):
            return None
    return stats


def remote_done(store: Store, shard: ShardSpec, cfg: Config) -> bool:
    return done_marker(store, shard, cfg) is not None


# -- generating ------------------------------------------------------------------------------


def scratch_folder(cfg: Config, url: str, tmp: str | Path | None) -> Path:
    """Node-local scratch for this data set's shards: --tmp, else TMPDIR (as schedulers set)."""
    base = Path(tmp or os.environ.get("TMPDIR") or tempfile.gettempdir())
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    return base / f"fractalvid-{cfg.fingerprint()}-{tag}"


@dataclass
class Uploads:
    """Uploads of finished shards, on threads of the main process: tar, Parquet, then the
    marker (with the store's sizes and ETags); the local files go once the marker is up."""

    store: Store
    scratch: Path
    threads: int = 2

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.threads)
        self.pending: list[Future] = []

    def submit(self, shard: ShardSpec) -> None:
        self.pending.append(self.pool.submit(self._upload, shard))

    def _upload(self, shard: ShardSpec) -> None:
        tar, parquet, _ = shard_paths(self.scratch, shard)
        stats = read_stats(self.scratch, shard)
        if stats is None:
            raise StoreError(f"{shard.name}: no finished shard in {self.scratch} to upload")
        for ext, path in (("tar", tar), ("parquet", parquet)):
            self.store.upload(path, f"{shard.name}.{ext}")
            info = self.store.info(f"{shard.name}.{ext}")
            size, tag = path.stat().st_size, etag(info)
            if tag is not None and "-" not in tag and tag != md5_file(path):
                raise StoreError(f"{self.store.url}/{shard.name}.{ext}: the store's MD5 differs "
                                 "from the file sent")
            if not info or info.get("size") != size:
                raise StoreError(f"{self.store.url}/{shard.name}.{ext}: not the size sent")
            stats[f"{ext}_bytes"], stats[f"{ext}_etag"] = size, tag
        self.store.write(f"{shard.name}.stats.json", json_bytes(stats))
        for path in shard_paths(self.scratch, shard):
            path.unlink(missing_ok=True)

    def wait(self) -> None:
        """Wait for every upload; the first failure is raised (the others still finish)."""
        errors = []
        for fut in self.pending:
            try:
                fut.result()
            except BaseException as exc:  # all are waited for before one is raised
                errors.append(exc)
        self.pool.shutdown()
        if errors:
            raise errors[0]


def generate(cfg: Config, url: str, shards: list[ShardSpec], run: Any, tmp: str | None,
             overwrite: bool, workers: int) -> tuple[Any, int, int]:
    """Make ``shards`` into the store at ``url``: (run_shards' summary, shards already done in
    the store, shards of the plan done there now). ``run(shards, scratch, on_result)`` makes
    them in scratch; each finished one is uploaded while the next ones are made."""
    from fractalvid.pipelines.outdir import claim_output

    store = Store(url)
    store.check()
    claim(cfg, store, overwrite)
    scratch = scratch_folder(cfg, url, tmp)
    claim_output(cfg, scratch)
    todo = [s for s in shards if not remote_done(store, s, cfg)]
    by_name = {s.name: s for s in todo}
    uploads = Uploads(store, scratch, threads=max(2, workers))
    try:
        summary = run(todo, scratch, lambda result: uploads.submit(by_name[result.name]))
    finally:
        uploads.wait()  # raises if any upload failed: then every one of ``shards`` is up
    mine = {s.name for s in shards}
    others = [s for s in plan_shards(cfg) if s.name not in mine]
    done = len(shards) + sum(remote_done(store, s, cfg) for s in others)
    return summary, len(shards) - len(todo), done


# -- reading back: config, finalize, verify -------------------------------------------------


def config_of(url: str) -> Config:
    """The config a data set in the store was made with (config.json, else dataset.json)."""
    store = Store(url)
    store.check()
    records = [_from_record(_parse(store.read(name)), name) for name in (CONFIG_FILE,
                                                                         DATASET_FILE)]
    return config_from([r for r in records if r is not None], url, f"{url}: no readable "
                       f"{CONFIG_FILE} or {DATASET_FILE}; is it a fractalvid data set?")


def finalize(cfg: Config, url: str, preview: bool = True) -> dict:
    """finalize for a data set in the store: the markers and Parquet read back, the data-set
    files written there (dataset.json last)."""
    import io

    import pyarrow.parquet as pq

    from fractalvid.pipelines.finalize import IncompleteError, incomplete, publish

    store = Store(url)
    shards = plan_shards(cfg)
    stats = [done_marker(store, s, cfg) for s in shards]
    missing = [s.name for s, st in zip(shards, stats) if st is None]
    if missing:
        raise IncompleteError(incomplete(missing, len(shards)))
    tables = [pq.read_table(io.BytesIO(store.read(f"{s.name}.parquet"))) for s in shards]
    return publish(cfg, tables, stats, store, preview)


def verify(url: str, deep: bool = False, workers: int = 1, progress: bool = False) -> list[str]:
    """verify for a data set in the store: its small files, then each shard's objects in turn,
    fetched into a temporary folder and checked as a local data set is (disk: a few shards)."""
    from fractalvid.shards import verify as local

    store = Store(url)
    store.check()
    with tempfile.TemporaryDirectory(prefix="fractalvid-verify-") as tmp:
        here = Path(tmp)
        for name in store.names():  # the small files: tables, indices, markers
            small = name.endswith(".stats.json") or (not SHARD_NAME.fullmatch(name) and
                                                     name.endswith((".json", ".parquet")))
            if small and (data := store.read(name)) is not None:
                (here / name).write_bytes(data)
        dataset, problem = local._load_dataset(here)
        if dataset is None:
            return [problem.replace(str(here), url)]

        def check(entry: dict) -> list[str]:
            names = (entry["url"], f"{entry['name']}.parquet")
            for name in names:
                data = store.read(name)
                if data is not None:
                    (here / name).write_bytes(data)
            try:
                return local._check_shard(here, entry, deep)
            finally:
                for name in names:
                    (here / name).unlink(missing_ok=True)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            problems = [p for found in pool.map(check, dataset["shards"]) for p in found]
        problems += local._check_indices(here, dataset["shards"])
        problems += local._check_tables(here, dataset, sum(e["nsamples"] for e in
                                                             dataset["shards"]))
        return [p.replace(str(here), url) for p in problems]


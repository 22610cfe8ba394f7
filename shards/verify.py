"""Verification of a finished data set against its dataset.json: sizes, checksums, structure."""

from __future__ import annotations

import json
import tarfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pyarrow.parquet as pq

from .atomic import sha256_file
from .codec import MEDIA, decode_clip, differs_from_record, recorded_shape
from .store import SHARD_STEM, Store, open_store

ENTRY_FIELDS = {"name": str, "split": str, "url": str, "nsamples": int, "bytes": int,
                "sha256": str, "parquet_sha256": str}
WIDS_KIND = "wids-shard-index-v1"


def _clip_hash_problem(path: Path, key: str, meta: bytes | None, ext: str, data: bytes
                       ) -> str | None:
    """A clip whose bytes differ from the sha256 its json records (older sets record none)."""
    try:
        recorded = json.loads(meta).get("sha256") if meta is not None else None
    except (ValueError, AttributeError):
        return f"{path.name}: {key}.json is not JSON (damaged)"
    if differs_from_record(data, recorded):
        return f"{path.name}: clip {key}: its {ext} differs from the sha256 in its json (damaged)"
    return None


def _shape_of(meta: bytes | None) -> tuple[int, ...] | None:
    try:
        return recorded_shape(json.loads(meta)) if meta is not None else None
    except ValueError:
        return None


def _check_tar(path: Path, entry: dict, deep: bool) -> tuple[list[str], list[str]]:
    """(problems, keys) of one tar shard."""
    problems: list[str] = []
    keys: list[str] = []
    members: dict[str, set[str]] = {}
    meta: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r") as tar:
            for info in tar:
                key, _, ext = info.name.partition(".")
                if ext == "json":
                    meta[key] = tar.extractfile(info).read()
                elif ext in MEDIA:
                    data = tar.extractfile(info).read()
                    found = _clip_hash_problem(path, key, meta.get(key), ext, data)
                    if found:
                        problems.append(found)
                if keys and key != keys[-1]:
                    if key in members:
                        problems.append(f"{path.name}: members of sample {key} are not adjacent")
                    elif key < keys[-1]:
                        problems.append(f"{path.name}: key {key} after {keys[-1]} (not sorted)")
                if not keys or key != keys[-1]:
                    keys.append(key)
                members.setdefault(key, set()).add(ext)
                if deep and ext in MEDIA:
                    try:
                        decode_clip(ext, data, shape=_shape_of(meta.get(key)))
                    except ValueError as exc:
                        problems.append(f"{path.name}: {key}.{ext} does not decode ({exc})")
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.append(f"{path.name}: unreadable tar ({exc})")
        return problems, keys
    for key, exts in members.items():
        lacking = [] if exts & set(MEDIA) else ["mp4 (or npy.zst)"]
        lacking += [] if "json" in exts else ["json"]
        if lacking:
            problems.append(f"{path.name}: sample {key} lacks {', '.join(lacking)}")
    if len(keys) != entry["nsamples"]:
        problems.append(f"{path.name}: {len(keys)} samples, dataset.json says {entry['nsamples']}")
    return problems, keys


def _check_marker(store: Store, entry: dict) -> list[str]:
    """The shard's done marker: present, whole, and vouching for the same files."""
    name = f"{entry['name']}.stats.json"
    raw = store.read(name)
    if raw is None:
        return [f"{name}: missing (the shard's done marker); rerun `fractalvid generate` "
                "with the same config to remake it"]
    try:
        stats = json.loads(raw)
    except ValueError as exc:
        return [f"{name}: unreadable ({exc}); rerun `fractalvid generate` to remake it"]
    pairs = (("tar_bytes", "bytes"), ("tar_sha256", "sha256"), ("parquet_sha256", "parquet_sha256"),
             ("count", "nsamples"))
    if not isinstance(stats, dict) or any(stats.get(a) != entry[b] for a, b in pairs):
        return [f"{name}: does not match dataset.json (damaged, or from another run); "
                "rerun `fractalvid generate` with the same config"]
    return []


def _check_shard(store: Store, entry: dict, deep: bool) -> list[str]:
    """Problems of one shard listed in dataset.json: its tar, its Parquet, its done marker;
    each file read from a local copy (the file itself, in a local folder)."""
    problems: list[str] = _check_marker(store, entry)
    with store.fetch(entry["url"]) as tar:
        if tar is None:
            return problems + [f"{entry['url']}: missing"]
        size = tar.stat().st_size
        if size != entry["bytes"]:
            problems.append(f"{tar.name}: {size} bytes, dataset.json says {entry['bytes']}")
        elif sha256_file(tar) != entry["sha256"]:
            problems.append(f"{tar.name}: sha256 differs from dataset.json (corrupted)")
        found, keys = _check_tar(tar, entry, deep)
    problems += found
    with store.fetch(f"{entry['name']}.parquet") as parquet:
        if parquet is None:
            return problems + [f"{entry['name']}.parquet: missing"]
        return problems + _check_parquet(parquet, entry, None if found else keys)


def _check_parquet(parquet: Path, entry: dict, keys: list[str] | None) -> list[str]:
    """A shard's Parquet: its sha256, and its keys those of the tar (``keys``, where the tar
    was sound)."""
    problems = []
    if sha256_file(parquet) != entry["parquet_sha256"]:
        problems.append(f"{parquet.name}: sha256 differs from dataset.json (corrupted)")
    try:
        pkeys = pq.read_table(parquet, columns=["key"]).column("key").to_pylist()
    except Exception as exc:  # any reader failure is a finding
        return problems + [f"{parquet.name}: unreadable ({exc})"]
    if keys is not None and pkeys != keys:
        problems.append(f"{parquet.name}: keys differ from {entry['url']}")
    return problems


def _load_dataset(store: Store, plan: set[str] | None = None
                  ) -> tuple[dict | None, str | None]:
    """(dataset.json, None), or (None, the problem) when it is absent, damaged, of another
    shape than finalize writes, or names a shard that is not one of ``plan`` (default: any
    name fractalvid's plans make). Names in it are data: nothing is read or written by them
    until they pass."""
    fix = f"run `fractalvid finalize {store}`"
    raw = store.read("dataset.json")
    try:
        dataset = json.loads(raw) if raw is not None else None
    except ValueError as exc:
        return None, f"{store}: no readable dataset.json ({exc}); {fix}"
    if dataset is None:
        return None, f"{store}: no readable dataset.json (it is missing); {fix}"
    entries = dataset.get("shards") if isinstance(dataset, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in ENTRY_FIELDS.items())
        for e in entries
    ):
        return None, f"{store}/dataset.json: not as finalize writes it (damaged?); {fix}"
    names = [e["name"] for e in entries]
    for e in entries:
        ours = SHARD_STEM.fullmatch(e["name"]) and (plan is None or e["name"] in plan)
        bad = e["name"] if not ours else e["url"] if e["url"] != f"{e['name']}.tar" else None
        if bad is not None:
            return None, (f"{store}/dataset.json names {bad!r}, which is not a shard of its "
                          f"plan (damaged, or not fractalvid's); {fix}")
    if len(set(names)) != len(names):
        return None, f"{store}/dataset.json lists a shard twice (damaged?); {fix}"
    return dataset, None


def _check_indices(store: Store, entries: list[dict]) -> list[str]:
    """Each split's wids index lists exactly the split's shards, with their sample counts."""
    problems = []
    for split in sorted({e["split"] for e in entries}):
        name = f"index.{split}.json"
        want = [{"url": e["url"], "nsamples": e["nsamples"]} for e in entries
                if e["split"] == split]
        raw = store.read(name)
        if raw is None:
            problems.append(f"{name}: missing; run `fractalvid finalize {store}`")
            continue
        try:
            index = json.loads(raw)
        except ValueError as exc:
            problems.append(f"{name}: unreadable ({exc}); run `fractalvid finalize {store}`")
            continue
        got = index.get("shardlist") if isinstance(index, dict) else None
        if not isinstance(index, dict) or index.get("__kind__") != WIDS_KIND or got != want:
            n = len(got) if isinstance(got, list) else 0
            problems.append(f"{name}: lists {n} shards, not the {len(want)} of dataset.json "
                            f"as they are; run `fractalvid finalize {store}`")
    return problems


def _check_tables(store: Store, dataset: dict, total: int) -> list[str]:
    """clips.parquet holds a row per sample; classes.parquet a row per class."""
    problems = []
    with store.fetch("clips.parquet") as clips:
        try:
            rows = pq.read_metadata(_present(clips)).num_rows
            if rows != total:
                problems.append(f"clips.parquet: {rows} rows, shards hold {total} samples")
        except Exception as exc:  # any reader failure is a finding
            problems.append(f"clips.parquet: unreadable ({exc})")
    config = dataset.get("config") if isinstance(dataset.get("config"), dict) else {}
    classes = config.get("classes", 0) if config.get("labels", True) else 0
    with store.fetch("classes.parquet") as path:
        try:
            table = pq.read_table(_present(path), columns=["class_id"])
            if table.column("class_id").to_pylist() != list(range(classes)):
                problems.append(f"classes.parquet: {table.num_rows} rows, not the {classes} "
                                "classes 0..C-1 of the config")
        except Exception as exc:
            problems.append(f"classes.parquet: unreadable ({exc})")
    return problems


def _present(path: Path | None) -> Path:
    if path is None:
        raise FileNotFoundError("missing")
    return path


def verify(out: Store | str | Path, deep: bool = False, workers: int = 1, progress: bool = False,
           plan: set[str] | None = None) -> list[str]:
    """Problems found in the data set at ``out`` (a folder or a store; empty when it is sound),
    in shard order.

    Checks every shard listed in dataset.json: tar size and sha256, tar structure (adjacent,
    sorted samples with json and mp4 or npy.zst), each clip against the sha256 in its json (naming a
    damaged clip), the per-shard Parquet (present, readable, same keys, checksum), the done
    marker; then the wids indices and the clips and classes tables. ``deep`` also decodes
    every clip. ``workers`` threads check shards at once (hashing and
    decoding release the GIL); ``progress``: a bar on stderr, by shard. ``plan``: the shard
    names of the data set's config, which dataset.json must keep to.
    """
    from tqdm import tqdm

    store = open_store(out)
    dataset, problem = _load_dataset(store, plan)
    if dataset is None:
        return [problem]
    entries = dataset["shards"]
    bar = tqdm(total=len(entries), unit="shard", disable=not progress, desc="verify")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, bar:
        futures = [pool.submit(_check_shard, store, entry, deep) for entry in entries]
        for _ in as_completed(futures):
            bar.update(1)
        problems = [p for fut in futures for p in fut.result()]
    problems += _check_indices(store, entries)
    problems += _check_tables(store, dataset, sum(entry["nsamples"] for entry in entries))
    return problems

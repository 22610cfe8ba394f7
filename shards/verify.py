"""Verification of a finished data set against its dataset.json: sizes, checksums, structure."""

from __future__ import annotations

import json
import tarfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pyarrow.parquet as pq

from fractalvid.shards.atomic import sha256_file
from fractalvid.shards.encode import decode_mp4

REQUIRED = ("mp4", "json")


def _check_tar(path: Path, entry: dict, deep: bool) -> tuple[list[str], list[str]]:
    """(problems, keys) of one tar shard."""
    problems: list[str] = []
    keys: list[str] = []
    members: dict[str, set[str]] = {}
    try:
        with tarfile.open(path, "r") as tar:
            for info in tar:
                key, _, ext = info.name.partition(".")
                if keys and key != keys[-1]:
                    if key in members:
                        problems.append(f"{path.name}: members of sample {key} are not adjacent")
                    elif key < keys[-1]:
                        problems.append(f"{path.name}: key {key} after {keys[-1]} (not sorted)")
                if not keys or key != keys[-1]:
                    keys.append(key)
                members.setdefault(key, set()).add(ext)
                if deep and ext == "mp4":
                    try:
                        decode_mp4(tar.extractfile(info).read())
                    except ValueError as exc:
                        problems.append(f"{path.name}: {key}.mp4 does not decode ({exc})")
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.append(f"{path.name}: unreadable tar ({exc})")
        return problems, keys
    for key, exts in members.items():
        lacking = [e for e in REQUIRED if e not in exts]
        if lacking:
            problems.append(f"{path.name}: sample {key} lacks {', '.join(lacking)}")
    if len(keys) != entry["nsamples"]:
        problems.append(f"{path.name}: {len(keys)} samples, dataset.json says {entry['nsamples']}")
    return problems, keys


def _check_shard(out: Path, entry: dict, deep: bool) -> list[str]:
    """Problems of one shard listed in dataset.json: its tar and its Parquet."""
    problems: list[str] = []
    tar = out / entry["url"]
    if not tar.is_file():
        return [f"{tar.name}: missing"]
    size = tar.stat().st_size
    if size != entry["bytes"]:
        problems.append(f"{tar.name}: {size} bytes, dataset.json says {entry['bytes']}")
    elif sha256_file(tar) != entry["sha256"]:
        problems.append(f"{tar.name}: sha256 differs from dataset.json (corrupted)")
    found, keys = _check_tar(tar, entry, deep)
    problems += found
    parquet = out / f"{entry['name']}.parquet"
    if not parquet.is_file():
        return problems + [f"{parquet.name}: missing"]
    if sha256_file(parquet) != entry["parquet_sha256"]:
        problems.append(f"{parquet.name}: sha256 differs from dataset.json (corrupted)")
    try:
        pkeys = pq.read_table(parquet, columns=["key"]).column("key").to_pylist()
    except Exception as exc:  # noqa: BLE001 - any reader failure is a finding
        return problems + [f"{parquet.name}: unreadable ({exc})"]
    if not found and pkeys != keys:
        problems.append(f"{parquet.name}: keys differ from {tar.name}")
    return problems


def verify(out: Path, deep: bool = False, workers: int = 1, progress: bool = False) -> list[str]:
    """Problems found in the data set at ``out`` (empty when it is sound), in shard order.

    Checks every shard listed in dataset.json: tar size and sha256, tar structure (adjacent,
    sorted samples with mp4 and json), the per-shard Parquet (present, readable, same keys,
    checksum) and clips.parquet's row count. ``deep`` also decodes every MP4 (an ffmpeg run
    each). ``workers`` threads check shards at once (hashing and ffmpeg do not hold the GIL);
    ``progress``: a bar on stderr, by shard.
    """
    from tqdm import tqdm

    out = Path(out)
    try:
        dataset = json.loads((out / "dataset.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{out}: no readable dataset.json ({exc}); run `fractalvid finalize {out}`"]
    entries = dataset["shards"]
    bar = tqdm(total=len(entries), unit="shard", disable=not progress, desc="verify")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, bar:
        futures = [pool.submit(_check_shard, out, entry, deep) for entry in entries]
        for _ in as_completed(futures):
            bar.update(1)
        problems = [p for fut in futures for p in fut.result()]
    total = sum(entry["nsamples"] for entry in entries)
    try:
        rows = pq.read_metadata(out / "clips.parquet").num_rows
        if rows != total:
            problems.append(f"clips.parquet: {rows} rows, shards hold {total} samples")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"clips.parquet: unreadable ({exc})")
    return problems

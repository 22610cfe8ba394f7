"""Verification of a finished data set against its dataset.json: sizes, checksums, structure."""

from __future__ import annotations

import json
import tarfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pyarrow.parquet as pq

from fractalvid.shards.atomic import sha256_file
from fractalvid.shards.codec import MEDIA, decode_clip, differs_from_record

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
                        decode_clip(ext, data)
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


def _check_marker(out: Path, entry: dict) -> list[str]:
    """The shard's done marker: present, whole, and vouching for the same files."""
    path = out / f"{entry['name']}.stats.json"
    try:
        stats = json.loads(path.read_bytes())
    except FileNotFoundError:
        return [f"{path.name}: missing (the shard's done marker); rerun `fractalvid generate` "
                "with the same config to remake it"]
    except (OSError, ValueError) as exc:
        return [f"{path.name}: unreadable ({exc}); rerun `fractalvid generate` to remake it"]
    pairs = (("tar_bytes", "bytes"), ("tar_sha256", "sha256"), ("parquet_sha256", "parquet_sha256"),
             ("count", "nsamples"))
    if not isinstance(stats, dict) or any(stats.get(a) != entry[b] for a, b in pairs):
        return [f"{path.name}: does not match dataset.json (damaged, or from another run); "
                "rerun `fractalvid generate` with the same config"]
    return []


def _check_shard(out: Path, entry: dict, deep: bool) -> list[str]:
    """Problems of one shard listed in dataset.json: its tar, its Parquet, its done marker."""
    problems: list[str] = _check_marker(out, entry)
    tar = out / entry["url"]
    if not tar.is_file():
        return problems + [f"{tar.name}: missing"]
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
    except Exception as exc:  # any reader failure is a finding
        return problems + [f"{parquet.name}: unreadable ({exc})"]
    if not found and pkeys != keys:
        problems.append(f"{parquet.name}: keys differ from {tar.name}")
    return problems


def _load_dataset(out: Path) -> tuple[dict | None, str | None]:
    """(dataset.json, None), or (None, the problem) when it is absent, damaged or of another
    shape than finalize writes."""
    fix = f"run `fractalvid finalize {out}`"
    try:
        dataset = json.loads((out / "dataset.json").read_bytes())
    except (OSError, ValueError) as exc:
        return None, f"{out}: no readable dataset.json ({exc}); {fix}"
    entries = dataset.get("shards") if isinstance(dataset, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in ENTRY_FIELDS.items())
        for e in entries
    ):
        return None, f"{out}/dataset.json: not as finalize writes it (damaged?); {fix}"
    return dataset, None


def _check_indices(out: Path, entries: list[dict]) -> list[str]:
    """Each split's wids index lists exactly the split's shards, with their sample counts."""
    problems = []
    for split in sorted({e["split"] for e in entries}):
        path = out / f"index.{split}.json"
        want = [{"url": e["url"], "nsamples": e["nsamples"]} for e in entries
                if e["split"] == split]
        try:
            index = json.loads(path.read_bytes())
        except FileNotFoundError:
            problems.append(f"{path.name}: missing; run `fractalvid finalize {out}`")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: unreadable ({exc}); run `fractalvid finalize {out}`")
            continue
        got = index.get("shardlist") if isinstance(index, dict) else None
        if not isinstance(index, dict) or index.get("__kind__") != WIDS_KIND or got != want:
            n = len(got) if isinstance(got, list) else 0
            problems.append(f"{path.name}: lists {n} shards, not the {len(want)} of dataset.json "
                            f"as they are; run `fractalvid finalize {out}`")
    return problems


def _check_tables(out: Path, dataset: dict, total: int) -> list[str]:
    """clips.parquet holds a row per sample; classes.parquet a row per class."""
    problems = []
    try:
        rows = pq.read_metadata(out / "clips.parquet").num_rows
        if rows != total:
            problems.append(f"clips.parquet: {rows} rows, shards hold {total} samples")
    except Exception as exc:  # any reader failure is a finding
        problems.append(f"clips.parquet: unreadable ({exc})")
    config = dataset.get("config") if isinstance(dataset.get("config"), dict) else {}
    classes = config.get("classes", 0) if config.get("labels", True) else 0
    try:
        table = pq.read_table(out / "classes.parquet", columns=["class_id"])
        if table.column("class_id").to_pylist() != list(range(classes)):
            problems.append(f"classes.parquet: {table.num_rows} rows, not the {classes} classes "
                            "0..C-1 of the config")
    except Exception as exc:
        problems.append(f"classes.parquet: unreadable ({exc})")
    return problems


def verify(out: Path, deep: bool = False, workers: int = 1, progress: bool = False) -> list[str]:
    """Problems found in the data set at ``out`` (empty when it is sound), in shard order.

    Checks every shard listed in dataset.json: tar size and sha256, tar structure (adjacent,
    sorted samples with json and mp4 or npy.zst), each clip against the sha256 in its json (naming a
    damaged clip), the per-shard Parquet (present, readable, same keys, checksum), the done
    marker; then the wids indices and the clips and classes tables. ``deep`` also decodes
    every clip. ``workers`` threads check shards at once (hashing and
    decoding release the GIL); ``progress``: a bar on stderr, by shard.
    """
    from tqdm import tqdm

    out = Path(out)
    dataset, problem = _load_dataset(out)
    if dataset is None:
        return [problem]
    entries = dataset["shards"]
    bar = tqdm(total=len(entries), unit="shard", disable=not progress, desc="verify")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, bar:
        futures = [pool.submit(_check_shard, out, entry, deep) for entry in entries]
        for _ in as_completed(futures):
            bar.update(1)
        problems = [p for fut in futures for p in fut.result()]
    problems += _check_indices(out, entries)
    problems += _check_tables(out, dataset, sum(entry["nsamples"] for entry in entries))
    return problems

"""Where a data set stands: which shards are done (their done marker vouches for their files).

The one place that reads done markers: making shards, finalize, the disk estimate and the
command line ask here, for a local folder and an object store alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..shards.store import Store, open_store
from .config import Config
from .plan import ShardSpec, plan_shards


def shard_paths(out: Path, shard: ShardSpec) -> tuple[Path, Path, Path]:
    """(tar, parquet, stats) of a shard in a local folder."""
    return (
        out / f"{shard.name}.tar",
        out / f"{shard.name}.parquet",
        out / f"{shard.name}.stats.json",
    )


MARKER_FIELDS = {"count": int, "tar_bytes": int, "tar_sha256": str, "parquet_sha256": str,
                 "fingerprint": str}


def parse_marker(raw: bytes | None) -> dict | None:
    """A done marker's record, or None when it is absent, unreadable or lacks a field."""
    try:
        stats = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(stats, dict):
        return None
    if not all(isinstance(stats.get(k), t) for k, t in MARKER_FIELDS.items()):
        return None
    return stats


def read_stats(out: Path | Store, shard: ShardSpec) -> dict | None:
    """The shard's done marker, or None when it is absent, unreadable or lacks a field."""
    return parse_marker(open_store(out).read(f"{shard.name}.stats.json"))


def _vouches(store: Store, name: str, ext: str, stats: dict, check_sha: bool) -> bool:
    """The marker ``stats`` vouches for ``name``: its size, the store's checksum where the
    store keeps one (an ETag, recorded at upload), and with ``check_sha`` its sha256 where it
    is cheap to read back."""
    st = store.stat(name)
    if st is None:
        return False
    size = stats.get(f"{ext}_bytes")
    if size is not None and st.size != size:
        return False
    if st.etag is not None and st.etag != stats.get(f"{ext}_etag"):
        return False
    return not check_sha or store.sha256(name) in (None, stats[f"{ext}_sha256"])


def done_stats(out: Path | Store, shard: ShardSpec, cfg: Config, check_sha: bool = True
               ) -> dict | None:
    """The shard's done marker when it vouches for the shard's tar and Parquet (their sha256
    too, with ``check_sha``: a damaged one is made again, not finalized), else None."""
    store = open_store(out)
    stats = read_stats(store, shard)
    if stats is None or stats.get("fingerprint") != cfg.fingerprint():
        return None
    if all(_vouches(store, f"{shard.name}.{ext}", ext, stats, check_sha)
           for ext in ("tar", "parquet")):
        return stats
    return None


def shard_done(out: Path | Store, shard: ShardSpec, cfg: Config, check_sha: bool = True
               ) -> bool:
    """True when the shard is done in ``out`` (``done_stats``)."""
    return done_stats(out, shard, cfg, check_sha) is not None


def shards_done(cfg: Config, out: Path | Store, shards: Sequence[ShardSpec] | None = None,
                check_sha: bool = False) -> int:
    """How many of ``shards`` (default: the whole plan) are done in ``out``."""
    store = open_store(out)
    return sum(shard_done(store, s, cfg, check_sha) for s in (shards or plan_shards(cfg)))

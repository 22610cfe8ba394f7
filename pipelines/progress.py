"""Where a data set stands: which shards are done (their done marker vouches for their files).

The one place that reads done markers: making shards, finalize, the disk estimate and the
command line ask here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from fractalvid.pipelines.config import Config
from fractalvid.pipelines.plan import ShardSpec, plan_shards
from fractalvid.shards.atomic import sha256_file


def shard_paths(out: Path, shard: ShardSpec) -> tuple[Path, Path, Path]:
    """(tar, parquet, stats) of a shard."""
    return (
        out / f"{shard.name}.tar",
        out / f"{shard.name}.parquet",
        out / f"{shard.name}.stats.json",
    )


MARKER_FIELDS = {"count": int, "tar_bytes": int, "tar_sha256": str, "parquet_sha256": str,
                 "fingerprint": str}


def read_stats(out: Path, shard: ShardSpec) -> dict | None:
    """The shard's done marker, or None when it is absent, unreadable or lacks a field."""
    try:
        stats = json.loads(shard_paths(out, shard)[2].read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(stats, dict):
        return None
    if not all(isinstance(stats.get(k), t) for k, t in MARKER_FIELDS.items()):
        return None
    return stats


def done_stats(out: Path, shard: ShardSpec, cfg: Config, check_sha: bool = True) -> dict | None:
    """The shard's done marker when it vouches for the shard's tar and Parquet (their sha256
    too, with ``check_sha``: a damaged one is made again, not finalized), else None."""
    stats = read_stats(out, shard)
    tar, parquet, _ = shard_paths(out, shard)
    if stats is None or stats.get("fingerprint") != cfg.fingerprint():
        return None
    if not (tar.is_file() and parquet.is_file()) or tar.stat().st_size != stats["tar_bytes"]:
        return None
    if check_sha and (sha256_file(tar) != stats["tar_sha256"]
                      or sha256_file(parquet) != stats["parquet_sha256"]):
        return None
    return stats


def shard_done(out: Path, shard: ShardSpec, cfg: Config, check_sha: bool = True) -> bool:
    """True when the shard is done in ``out`` (``done_stats``)."""
    return done_stats(out, shard, cfg, check_sha) is not None


def shards_done(cfg: Config, out: Path, shards: Sequence[ShardSpec] | None = None,
                check_sha: bool = False) -> int:
    """How many of ``shards`` (default: the whole plan) are done in ``out``."""
    return sum(shard_done(out, s, cfg, check_sha) for s in (shards or plan_shards(cfg)))

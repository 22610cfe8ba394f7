"""Making one shard: render -> (compose) -> encode -> tar + Parquet -> done marker.

The shard is the unit of work: a pure function of (config, shard), written under temporary names
and made visible in the order tar, Parquet, stats. The stats file is the done marker: it holds
the tar's size and sha256, so a rerun skips a finished shard after a cheap check.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..gen.render import Renderer
from ..shards.atomic import json_bytes, remove_temporaries, sha256_file, write_atomic
from ..shards.codec import MEMBER, encode_clips
from ..shards.encode import ENCODE_GROUP
from ..shards.metadata import CLASSES_META, clips_table, schema_of, write_parquet
from ..shards.tarwriter import TarShardWriter
from .clips import donor_blocks
from .config import Config
from .plan import ShardSpec, clip_specs
from .produce import make_clips, render_batch
from .progress import shard_done, shard_paths
from .sizing import DEFAULT_BATCH


@dataclass(frozen=True)
class ShardResult:
    name: str
    count: int
    skipped: bool
    seconds: float
    peak_rss_mb: float = 0.0  # of the process that made it
    stopped: bool = False  # not started: it could not finish by the time limit


def run_shard(
    cfg: Config,
    shard: ShardSpec,
    out: Path,
    renderer: Renderer,
    batch: int = DEFAULT_BATCH,
    tmpdir: str | None = None,
    encoders: int = 1,
) -> ShardResult:
    """Make ``shard`` in ``out`` unless it is already done there; returns what happened.

    Rendering of batch k+1 overlaps with encoding of batch k: ``encoders`` threads each drive
    one ffmpeg process at a time, for up to ENCODE_GROUP clips (the numba kernel and the wait on
    ffmpeg release the GIL). Each clip has an encoder of its own and the tar takes clips in
    shard order whatever finishes first, so the bytes depend on neither ``encoders`` nor
    ``batch``.
    """
    start = time.perf_counter()
    out = Path(out)
    remove_temporaries(out, shard.name)
    if shard_done(out, shard, cfg):
        return ShardResult(shard.name, shard.count, True, 0.0)
    tar_path, parquet_path, stats_path = shard_paths(out, shard)
    stats_path.unlink(missing_ok=True)  # a stale marker must not outlive the files it vouches for

    records = _write_tar(cfg, shard, tar_path, renderer, batch, tmpdir, encoders)
    classes = sorted({r["class_id"] for r in records if r["class_id"] is not None})
    gen = cfg.generator_spec
    meta = {"fractalvid.config": json.dumps(cfg.to_dict(), sort_keys=True),
            # the classes' parameters, so finalize need not draw (and screen) them again
            CLASSES_META: json.dumps([gen.class_row(cfg, c) for c in classes])}
    write_parquet(clips_table(records, schema_of(gen.columns)), parquet_path, meta)
    stats = {
        "shard": shard.name,
        "split": shard.split,
        "count": len(records),
        "first_key": records[0]["key"],
        "last_key": records[-1]["key"],
        "tar_bytes": tar_path.stat().st_size,
        "tar_sha256": sha256_file(tar_path),
        "parquet_sha256": sha256_file(parquet_path),
        "fingerprint": cfg.fingerprint(),
    }
    write_atomic(stats_path, json_bytes(stats))
    return ShardResult(shard.name, len(records), False, time.perf_counter() - start, peak_rss_mb())


def _write_tar(cfg: Config, shard: ShardSpec, tar_path: Path, renderer: Renderer, batch: int,
               tmpdir: str | None, encoders: int) -> list[dict]:
    """Make the shard's clips and commit them to its tar; returns their records in order.

    Groups of ENCODE_GROUP clips encode on ``encoders`` threads while the next clips render
    and compose; the tar takes clips in shard order whatever finishes first."""
    ext = MEMBER[cfg.member_codec]
    records: list[dict] = []
    pending: deque[tuple[list[dict], Future[list[bytes]]]] = deque()
    in_flight = max(2, encoders) + render_batch(batch) // ENCODE_GROUP  # bounds memory
    with TarShardWriter(tar_path) as tar, ThreadPoolExecutor(max_workers=encoders) as pool:

        def write(keep: int) -> None:
            while len(pending) > keep:
                recs, future = pending.popleft()
                for rec, data in zip(recs, future.result(), strict=True):
                    rec["bytes"] = len(data)
                    rec["sha256"] = hashlib.sha256(data).hexdigest()  # verify names a bad clip
                    members = {"json": _json_bytes(rec), ext: data}
                    if rec["class_id"] is not None:
                        members["cls"] = str(rec["class_id"]).encode()
                    tar.add(rec["key"], members)
                    records.append(rec)

        group: list = []
        specs = clip_specs(cfg, shard)
        for i, clip in enumerate(make_clips(cfg, donor_blocks(specs), renderer, batch,
                                            shard.name)):
            group.append(clip)
            if len(group) == ENCODE_GROUP or i == len(specs) - 1:
                future = pool.submit(encode_clips, [c.frames for c in group], cfg.video_format,
                                     tmpdir)
                pending.append(([c.record for c in group], future))
                group = []
                write(keep=in_flight)
        write(keep=0)
        tar.commit()
    return records


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB. Linux's VmHWM, where there is
    one: ``ru_maxrss`` of a worker started by fork and exec (loky's) begins at its parent's
    size at the fork, so it would report the main process's peak as the worker's."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _json_bytes(rec: dict) -> bytes:
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()

"""Finalize: data-set tables, dataset.json, wids indices, the dataset card and the preview."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fractalvid import __version__
from fractalvid.gen.variations import NAMES
from fractalvid.pipelines.card import dataset_card
from fractalvid.pipelines.clips import class_for
from fractalvid.pipelines.config import Config
from fractalvid.pipelines.plan import SPLITS, plan_shards
from fractalvid.pipelines.shard import read_stats, shard_done, shard_paths
from fractalvid.shards.atomic import write_atomic
from fractalvid.shards.metadata import CLIP_SCHEMA, write_parquet
from fractalvid.shards.preview import write_preview

WIDS_KIND = "wids-shard-index-v1"


class IncompleteError(RuntimeError):
    """Finalize was asked for before every shard was done."""


def classes_table(cfg: Config) -> pa.Table:
    """One row per class: id, variation, map count, frames, motion curves, endpoint parameters."""
    rows = []
    for cid in range(cfg.classes if cfg.labels else 0):
        drawn = class_for(cfg, cid)
        c = drawn.cls
        rows.append({
            "class_id": cid,
            "attempt": drawn.attempt,
            "defect": drawn.defect,
            "variation": NAMES[c.variation],
            "n_maps": c.n_maps,
            "frames": c.frames,
            "motion_curves": ",".join(c.motion),
            "constant_shift": c.constant_shift,
            "theta": c.theta.ravel().tolist(),  # [2, N]: start, end
            "phi": c.phi.ravel().tolist(),  # [2, N]
            "singular_values": c.sv.ravel().tolist(),  # [2, N, 2]
            "shift": c.shift.ravel().tolist(),  # [2, N, 2]
            "flips": c.flips.ravel().tolist(),  # [N, 4]
        })  # fmt: skip
    schema = pa.schema([
        ("class_id", pa.int32()), ("attempt", pa.int16()), ("defect", pa.string()),
        ("variation", pa.string()), ("n_maps", pa.int8()),
        ("frames", pa.int16()), ("motion_curves", pa.string()), ("constant_shift", pa.bool_()),
        ("theta", pa.list_(pa.float64())), ("phi", pa.list_(pa.float64())),
        ("singular_values", pa.list_(pa.float64())), ("shift", pa.list_(pa.float64())),
        ("flips", pa.list_(pa.float64())),
    ])  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


def _json(path: Path, obj: object) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def finalize(cfg: Config, out: Path, preview: bool = True) -> dict:
    """Write the data-set level files once every shard is done; returns dataset.json's content.

    Raises IncompleteError naming the missing shards otherwise.
    """
    out = Path(out)
    shards = plan_shards(cfg)
    missing = [s.name for s in shards if not shard_done(out, s, cfg)]
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise IncompleteError(
            f"{len(missing)} of {len(shards)} shards are not done: {', '.join(missing[:5])}{more};"
            " run `fractalvid generate` again to finish them"
        )
    meta = {"fractalvid.config": json.dumps(cfg.to_dict(), sort_keys=True)}
    tables = [pq.read_table(shard_paths(out, s)[1]) for s in shards]
    clips = pa.concat_tables(tables).cast(CLIP_SCHEMA) if tables else CLIP_SCHEMA.empty_table()
    write_parquet(clips, out / "clips.parquet", meta)
    write_parquet(classes_table(cfg), out / "classes.parquet", meta)

    entries = []
    for s in shards:
        st = read_stats(out, s)
        entries.append({
            "name": s.name, "split": s.split, "url": f"{s.name}.tar", "nsamples": st["count"],
            "bytes": st["tar_bytes"], "sha256": st["tar_sha256"],
            "parquet_sha256": st["parquet_sha256"],
        })  # fmt: skip
    for split in SPLITS:
        shardlist = [{"url": e["url"], "nsamples": e["nsamples"]} for e in entries
                     if e["split"] == split]  # fmt: skip
        index = {"__kind__": WIDS_KIND, "wids_version": 1, "name": split, "shardlist": shardlist}
        _json(out / f"index.{split}.json", index)

    coverage = clips.column("coverage").to_numpy()
    motion = clips.column("motion").to_numpy()
    splits = {
        split: {
            "clips": sum(e["nsamples"] for e in entries if e["split"] == split),
            "shards": sum(1 for e in entries if e["split"] == split),
        }
        for split in SPLITS
    }
    dataset = {
        "format": "fractalvid-dataset-v1",
        "fractalvid_version": __version__,
        "fingerprint": cfg.fingerprint(),
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "splits": splits,
        "bytes": int(sum(e["bytes"] for e in entries)),
        "shards": entries,
        "quality": {
            "coverage_p50": float(np.median(coverage)) if coverage.size else None,
            "motion_p50": float(np.median(motion)) if motion.size else None,
        },
    }
    _json(out / "dataset.json", dataset)
    write_atomic(out / "README.md", dataset_card(cfg, dataset, clips).encode())
    if preview and clips.num_rows:
        write_preview(out)
    return dataset

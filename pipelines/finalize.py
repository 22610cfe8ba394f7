"""Finalize: data-set tables, dataset.json, wids indices, the dataset card and the preview."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..shards.atomic import json_bytes
from ..shards.gif import encode_gif
from ..shards.metadata import CLASSES_META, parquet_bytes, read_parquet, schema_of
from ..shards.png import encode_png
from ..shards.preview import preview_clips, preview_grid
from ..shards.store import Store, open_store
from .card import dataset_card
from .config import Config
from .outdir import (
    DATASET_FILE,
    DATASET_FORMAT,
    is_ours,
    recorded_writes,
    sha256_bytes,
)
from .plan import SPLITS, plan_shards
from .progress import done_stats
from .version import __version__

WIDS_KIND = "wids-shard-index-v1"


class IncompleteError(RuntimeError):
    """Finalize was asked for before every shard was done."""


def classes_table(cfg: Config, recorded: dict[int, dict] | None = None) -> pa.Table:
    """One row per class (the generator's ``class_row``), from the rows the shards recorded;
    a class no shard recorded (shards of an older version) is drawn again."""
    recorded = recorded or {}
    gen = cfg.generator_spec
    rows = [recorded.get(cid) or gen.class_row(cfg, cid)
            for cid in range(cfg.classes if cfg.labels else 0)]
    return pa.Table.from_pylist(rows, schema=schema_of(gen.class_columns))


def _recorded_classes(tables: list[pa.Table]) -> dict[int, dict]:
    rows = {}
    for table in tables:
        meta = (table.schema.metadata or {}).get(CLASSES_META.encode())
        for row in json.loads(meta) if meta else []:
            rows[row["class_id"]] = row
    return rows


def _as_clip_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A shard's table in ``schema``; columns an older version did not write become nulls."""
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def finalize(cfg: Config, out: Store | str | Path, preview: bool = True) -> dict:
    """Write the data-set level files once every shard is done; returns dataset.json's content.

    ``out``: a folder or a store. From the shards' records alone: clips.parquet,
    classes.parquet, the wids indices, the card and the preview, then dataset.json last,
    recording (``written``) the sha256 of the card and the preview; a README.md or
    preview.png that is not what fractalvid last wrote is left as it is. Raises
    IncompleteError naming the missing shards otherwise.
    """
    store = open_store(out)
    shards = plan_shards(cfg)
    stats = [done_stats(store, s, cfg) for s in shards]  # each marker read once
    missing = [s.name for s, st in zip(shards, stats) if st is None]
    if missing:
        raise IncompleteError(incomplete(missing, len(shards)))
    tables = [read_parquet(store.read(f"{s.name}.parquet")) for s in shards]
    return publish(cfg, tables, stats, store, preview)


def incomplete(missing: list[str], total: int) -> str:
    more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
    return (f"{len(missing)} of {total} shards are not done: {', '.join(missing[:5])}{more}; "
            "run `fractalvid generate` again to finish them")


def publish(cfg: Config, tables: list[pa.Table], stats: list[dict], sink: Store,
            preview: bool) -> dict:
    """The data-set files from the shards' Parquet tables and done markers (plan order),
    written to the store ``sink``; dataset.json last."""
    shards = plan_shards(cfg)
    meta = {"fractalvid.config": json.dumps(cfg.to_dict(), sort_keys=True)}
    schema = schema_of(cfg.generator_spec.columns)
    clips = pa.concat_tables([_as_clip_schema(t, schema) for t in tables]) if tables \
        else schema.empty_table()
    sink.write("clips.parquet", parquet_bytes(clips, meta))
    sink.write("classes.parquet",
               parquet_bytes(classes_table(cfg, _recorded_classes(tables)), meta))
    entries = [_entry(s, st) for s, st in zip(shards, stats)]
    for split in SPLITS:
        shardlist = [{"url": e["url"], "nsamples": e["nsamples"]} for e in entries
                     if e["split"] == split]
        index = {"__kind__": WIDS_KIND, "wids_version": 1, "name": split, "shardlist": shardlist}
        sink.write(f"index.{split}.json", json_bytes(index))
    dataset = _dataset_record(cfg, entries, clips)
    guarded = {"README.md": lambda: dataset_card(cfg, dataset, clips).encode()}
    if preview and clips.num_rows:
        guarded["preview.png"] = lambda: encode_png(preview_grid(sink))
        if not cfg.still:  # a still does not move
            guarded["preview.gif"] = lambda: encode_gif(preview_clips(sink), cfg.fps)
    dataset["written"] = _write_guarded(sink, guarded)
    sink.write(DATASET_FILE, json_bytes(dataset))
    return dataset


def _entry(shard, stats: dict) -> dict:
    """dataset.json's entry of a shard, from its done marker."""
    return {"name": shard.name, "split": shard.split, "url": f"{shard.name}.tar",
            "nsamples": stats["count"], "bytes": stats["tar_bytes"],
            "sha256": stats["tar_sha256"], "parquet_sha256": stats["parquet_sha256"]}


def _dataset_record(cfg: Config, entries: list[dict], clips: pa.Table) -> dict:
    coverage = clips.column("coverage").to_numpy()
    motion = clips.column("motion").to_numpy()
    splits = {split: {"clips": sum(e["nsamples"] for e in entries if e["split"] == split),
                      "shards": sum(1 for e in entries if e["split"] == split)}
              for split in SPLITS}
    return {
        "format": DATASET_FORMAT,
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


def _write_guarded(sink, guarded: dict) -> dict[str, str]:
    """Write each of ``guarded`` ({name: make bytes}) that is fractalvid's to replace; returns
    {name: sha256} of those now as fractalvid wrote them."""
    before, written = recorded_writes(sink.read(DATASET_FILE)), {}
    for name, make in guarded.items():
        data, now = make(), sink.read(name)
        if is_ours(name, now, before):
            sink.write(name, data)
            written[name] = sha256_bytes(data)
        elif now == data:  # already what it would write: ours to record
            written[name] = sha256_bytes(data)
    return written


def update_preview(out: Store | str | Path, rows: int = 10, cols: int = 6) -> str | None:
    """Rewrite preview.png in ``out`` (a folder or a store) with ``rows`` x ``cols`` frames
    and record it in dataset.json; None (nothing written) when a preview.png that fractalvid
    did not write is there. Returns where it went."""
    sink = open_store(out)
    raw = sink.read(DATASET_FILE)
    record = recorded_writes(raw)
    if not is_ours("preview.png", sink.read("preview.png"), record):
        return None
    data = encode_png(preview_grid(sink, rows, cols))
    sink.write("preview.png", data)
    try:
        dataset = json.loads(raw) if raw else None
    except ValueError:
        dataset = None
    if isinstance(dataset, dict):
        dataset["written"] = {**record, "preview.png": sha256_bytes(data)}
        sink.write(DATASET_FILE, json_bytes(dataset))
    return str(sink.join("preview.png"))

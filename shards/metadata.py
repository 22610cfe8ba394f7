"""Parquet metadata: per-shard clip tables, the data-set tables, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fractalvid.shards.atomic import commit, temp_path

CLIP_SCHEMA = pa.schema([
    ("key", pa.string()),
    ("split", pa.string()),
    ("shard", pa.string()),
    ("class_id", pa.int32()),
    ("instance", pa.int32()),
    ("seed", pa.int64()),
    ("render_seed", pa.uint64()),
    ("variation", pa.string()),
    ("n_maps", pa.int8()),
    ("motion_curves", pa.string()),
    ("constant_shift", pa.bool_()),
    ("frames", pa.int16()),
    ("height", pa.int16()),
    ("width", pa.int16()),
    ("fps", pa.int16()),
    ("window", pa.list_(pa.float64(), 4)),
    ("escaped", pa.float64()),
    ("class_attempt", pa.int16()),
    ("instance_attempt", pa.int16()),
    ("defect", pa.string()),
    ("coverage", pa.float64()),
    ("motion", pa.float64()),
    ("channels", pa.int8()),
    ("ops", pa.list_(pa.string())),
    ("augmentations", pa.string()),
    ("bytes", pa.int64()),
    ("sha256", pa.string()),  # of the clip's video member
])


def clips_table(records: list[dict[str, Any]]) -> pa.Table:
    """Clip records (as in KEY.json) -> a table with CLIP_SCHEMA.

    ``augmentations`` (a list of {name, params}) is stored as JSON text, so any operation's
    parameters fit one column; its names are also in the record for filtering.
    """
    cols: dict[str, list[Any]] = {f.name: [] for f in CLIP_SCHEMA}
    for r in records:
        for name in cols:
            v = r.get(name)
            if name == "augmentations":
                v = json.dumps(v or [], sort_keys=True, separators=(",", ":"))
            elif name == "render_seed" and v is not None:
                v = int(v)  # KEY.json holds it as text
            cols[name].append(v)
    return pa.Table.from_pydict(cols, schema=CLIP_SCHEMA)


def parquet_bytes(table: pa.Table, metadata: dict[str, str] | None = None) -> bytes:
    """A table as the bytes of a Parquet file (zstd), ``metadata`` added to its schema's."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_parquet(table: pa.Table, final: Path, metadata: dict[str, str] | None = None) -> None:
    """Write under a temporary name, then rename: a reader never sees a truncated file."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    tmp = temp_path(final)
    try:
        pq.write_table(table, tmp, compression="zstd")
        commit(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

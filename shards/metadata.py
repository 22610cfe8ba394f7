"""Parquet metadata: per-shard clip tables, the data-set tables, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import commit, temp_path

# Per-shard Parquet metadata: the rows of the shard's classes, so finalize need not draw them.
CLASSES_META = "fractalvid.classes"

_TYPES = {"string": pa.string(), "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(),
          "int32": pa.int32(), "int64": pa.int64(), "uint64": pa.uint64(),
          "float64": pa.float64(), "float64[4]": pa.list_(pa.float64(), 4),
          "float64[]": pa.list_(pa.float64()), "int64[]": pa.list_(pa.int64()),
          "string[]": pa.list_(pa.string())}


def read_parquet(raw: bytes, columns: list[str] | None = None) -> pa.Table:
    """A Parquet file's table from its bytes (as a store reads them). Through ParquetFile,
    not ``pq.read_table``: on anything but a path, read_table's dataset layer made pyarrow 26
    abort the process at exit now and then ("terminate called without an active
    exception")."""
    return pq.ParquetFile(pa.BufferReader(raw)).read(columns=columns)


def read_parquet_schema(raw: bytes) -> pa.Schema:
    """A Parquet file's schema, with its metadata, from its bytes."""
    return pq.read_schema(pa.BufferReader(raw))


def schema_of(columns: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> pa.Schema:
    """A generator's columns, [(name, type name)] as gen/generator.py spells them, as a
    pyarrow schema."""
    try:
        return pa.schema([(name, _TYPES[kind]) for name, kind in columns])
    except KeyError as exc:
        raise ValueError(f"unknown column type {exc.args[0]!r}; known: {', '.join(_TYPES)}") \
            from None


def clips_table(records: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Clip records (as in KEY.json) -> a table with ``schema`` (the generator's columns).

    ``augmentations`` (a list of {name, params}) is stored as JSON text, so any operation's
    parameters fit one column; its names are also in the record for filtering.
    """
    cols: dict[str, list[Any]] = {f.name: [] for f in schema}
    text_ints = {f.name for f in schema if f.type == pa.uint64()}  # KEY.json holds them as text
    for r in records:
        for name in cols:
            v = r.get(name)
            if name == "augmentations":
                v = json.dumps(v or [], sort_keys=True, separators=(",", ":"))
            elif name in text_ints and v is not None:
                v = int(v)
            cols[name].append(v)
    return pa.Table.from_pydict(cols, schema=schema)


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

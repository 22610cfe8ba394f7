"""Helpers for comparing whole data-set folders."""

import hashlib


def digests(folder):
    """sha256 of every shard, table and JSON a run writes (config.json aside), by file name."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".tar", ".parquet", ".json")
                   and p.name != "config.json")  # fmt: skip
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

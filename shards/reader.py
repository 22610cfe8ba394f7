"""Reading samples back from shards (members by name; whole samples in order)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path


def read_member(tar_path: Path, name: str) -> bytes:
    """Bytes of one member of a tar shard; KeyError if it is absent."""
    with tarfile.open(tar_path, "r") as tar:
        fh = tar.extractfile(name)
        if fh is None:
            raise KeyError(f"{tar_path}: no member {name}")
        return fh.read()


def iter_samples(tar_path: Path) -> Iterator[dict[str, bytes | str]]:
    """Samples of a shard in order: {"__key__": KEY, ext: bytes, ...}.

    Members of a sample are adjacent; the key is the name before the first dot.
    """
    current: dict[str, bytes | str] | None = None
    with tarfile.open(tar_path, "r") as tar:
        for info in tar:
            if not info.isfile():
                continue
            key, _, ext = info.name.partition(".")
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key}
            fh = tar.extractfile(info)
            current[ext] = fh.read() if fh else b""
    if current is not None:
        yield current

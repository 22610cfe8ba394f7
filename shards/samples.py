"""Samples of a tar shard, in order: iterating them, counting them, reading one clip.
``ClipError`` names a shard (and a clip) that cannot be read."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .codec import MEDIA, decode_clip
from .store import open_read


class ClipError(Exception):
    """A shard or clip that could not be read; ``shard`` and ``key`` name it (key None when
    the shard failed before its first clip)."""

    def __init__(self, shard: str, key: str | None, reason: str):
        self.shard, self.key, self.reason = str(shard), key, reason
        where = f"{self.shard}: clip {key}" if key else self.shard
        super().__init__(f"{where}: {reason}")


def read_member(tar_path: Path, name: str) -> bytes:
    """Bytes of one member of a tar shard; KeyError if it is absent."""
    with tarfile.open(tar_path, "r") as tar:
        fh = tar.extractfile(name)
        if fh is None:
            raise KeyError(f"{tar_path}: no member {name}")
        return fh.read()


def iter_samples(tar_path: str | Path, first: int = 0, stop: int | None = None
                 ) -> Iterator[dict[str, bytes | str]]:
    """Samples ``first``..``stop``-1 of a shard in order: {"__key__": KEY, "__url__": shard,
    ext: bytes, ...}. Members of a sample are adjacent; the key is the name before the first
    dot. A damaged tar raises ClipError naming the shard and the clip being read."""
    current: dict[str, bytes | str] | None = None
    index = -1
    key = None
    try:
        with open_read(tar_path) as fh, tarfile.open(fileobj=fh, mode="r") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                key, _, ext = info.name.partition(".")
                if current is None or current["__key__"] != key:
                    if current is not None and index >= first:
                        yield current
                    index += 1
                    if stop is not None and index >= stop:
                        return
                    current = {"__key__": key, "__url__": str(tar_path)}
                if index < first:
                    continue  # not read: tarfile seeks past it
                fh = tar.extractfile(info)
                current[ext] = fh.read() if fh else b""
            _check_end(tar)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ClipError(tar_path, key, f"unreadable tar ({exc})") from exc
    if current is not None and index >= first:
        yield current


def _check_end(tar: tarfile.TarFile) -> None:
    """A tar cut at a member boundary reads as a shorter archive: every whole tar ends with
    an end-of-archive marker (two zero blocks) after its last member, so look for it."""
    fileobj = tar.fileobj
    if fileobj is None or not fileobj.seekable():
        return
    size = fileobj.seek(0, os.SEEK_END)
    if size < tar.offset + 2 * tarfile.BLOCKSIZE:
        raise tarfile.ReadError("truncated: it ends without the end-of-archive marker")


def count_samples(tar_path: str | Path) -> int:
    """Samples in a shard, from its headers alone."""
    keys = 0
    last = None
    try:
        with open_read(tar_path) as fh, tarfile.open(fileobj=fh, mode="r") as tar:
            for info in tar:
                key = info.name.partition(".")[0]
                if info.isfile() and key != last:
                    keys, last = keys + 1, key
            _check_end(tar)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ClipError(tar_path, last, f"unreadable tar ({exc})") from exc
    return keys


def read_clip(tar_path: str | Path, key: str, color: bool | None = None) -> np.ndarray:
    """The frames of clip ``key`` of a shard (a path or URL), whatever its codec; KeyError if
    it is absent."""
    with open_read(tar_path) as fh, tarfile.open(fileobj=fh, mode="r") as tar:
        for ext in MEDIA:
            try:
                fh = tar.extractfile(f"{key}.{ext}")
            except KeyError:
                continue
            return decode_clip(ext, fh.read(), color)
    raise KeyError(f"{tar_path}: no clip {key}")

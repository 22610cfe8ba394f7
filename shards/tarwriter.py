"""Reproducible WebDataset tar shards.

Members of a sample (``KEY.cls``, ``KEY.json``, ``KEY.mp4``) are adjacent and sorted, samples come
in ascending key order, and every header has a fixed mtime, owner and mode, so the same samples
always give the same bytes.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from .atomic import commit, temp_path

MTIME = 0
MODE = 0o644
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
_NUL = bytes(BLOCK)
_MAX_SIZE = 8**11  # a USTAR size field holds 11 octal digits


def _tarfile_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, MTIME, MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


_TEMPLATE = _tarfile_header("", 0)


def header(name: str, size: int) -> bytes:
    """The USTAR header block of a member ``name`` of ``size`` bytes, byte for byte what
    ``tarfile`` writes for it with this module's mtime, mode and owner (tested). Made from
    a template: tarfile's own takes most of the time a still's sample costs the tar."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) >= 100 or size >= _MAX_SIZE:
        return _tarfile_header(name, size)  # a prefix field, or an error: tarfile's rules
    head = bytearray(_TEMPLATE)
    head[0:len(raw)] = raw
    head[124:136] = b"%011o\0" % size
    head[148:156] = b"        "
    head[148:155] = b"%06o\0" % sum(head)
    return bytes(head)


class TarShardWriter:
    """Writes one shard under a temporary name; ``commit()`` makes it visible atomically.

    Use as a context manager: leaving it by an exception removes the temporary file.
    """

    def __init__(self, final: Path):
        self.final = Path(final)
        self.tmp = temp_path(self.final)
        self._fh = open(self.tmp, "wb")
        self._closed = False
        self._last_key: str | None = None
        self.count = 0

    def add(self, key: str, members: dict[str, bytes]) -> None:
        """Append one sample; ``members`` maps extension (no dot) to content."""
        if "." in key or "/" in key:
            raise ValueError(f"a sample key must not contain '.' or '/': {key!r}")
        if self._last_key is not None and key <= self._last_key:
            raise ValueError(f"keys must ascend: {key!r} after {self._last_key!r}")
        parts = []
        for ext in sorted(members):
            data = members[ext]
            parts += [header(f"{key}.{ext}", len(data)), data, _NUL[: -len(data) % BLOCK]]
        self._fh.write(b"".join(parts))
        self._last_key = key
        self.count += 1

    def _close(self) -> None:
        # the end of the archive as tarfile writes it: two zero blocks, then zeros up to a
        # whole record
        if not self._closed:
            self._closed = True
            end = self._fh.tell() + 2 * BLOCK
            self._fh.write(bytes(2 * BLOCK + -end % RECORD))
        self._fh.close()

    def commit(self) -> None:
        self._close()
        commit(self.tmp, self.final)

    def abort(self) -> None:
        """Remove the temporary, even when closing it fails again (a full disk)."""
        try:
            self._close()
        except OSError:  # the failure being raised already says what went wrong
            pass
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> TarShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

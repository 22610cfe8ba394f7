"""Reproducible WebDataset tar shards.

Members of a sample (``KEY.cls``, ``KEY.json``, ``KEY.mp4``) are adjacent and sorted, samples come
in ascending key order, and every header has a fixed mtime, owner and mode, so the same samples
always give the same bytes.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from .atomic import commit, temp_path

MTIME = 0
MODE = 0o644


class TarShardWriter:
    """Writes one shard under a temporary name; ``commit()`` makes it visible atomically.

    Use as a context manager: leaving it by an exception removes the temporary file.
    """

    def __init__(self, final: Path):
        self.final = Path(final)
        self.tmp = temp_path(self.final)
        self._fh = open(self.tmp, "wb")
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.USTAR_FORMAT)
        self._last_key: str | None = None
        self.count = 0

    def add(self, key: str, members: dict[str, bytes]) -> None:
        """Append one sample; ``members`` maps extension (no dot) to content."""
        if "." in key or "/" in key:
            raise ValueError(f"a sample key must not contain '.' or '/': {key!r}")
        if self._last_key is not None and key <= self._last_key:
            raise ValueError(f"keys must ascend: {key!r} after {self._last_key!r}")
        for ext in sorted(members):
            data = members[ext]
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            info.mtime = MTIME
            info.mode = MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
        self._last_key = key
        self.count += 1

    def commit(self) -> None:
        self._tar.close()
        self._fh.close()
        commit(self.tmp, self.final)

    def abort(self) -> None:
        """Remove the temporary, even when closing it fails again (a full disk)."""
        try:
            try:
                self._tar.close()
            finally:
                self._fh.close()
        except OSError:  # the failure being raised already says what went wrong
            pass
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> TarShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

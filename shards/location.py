"""Where a data set lives: a local folder, or an fsspec URL (``s3://bucket/prefix``, ...).

Local paths go through plain Python file calls, with no fsspec in their path; URLs through
fsspec, whose S3 backend (s3fs) takes credentials and endpoint from the standard AWS settings
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, the profile files, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO


def is_url(place: str | Path) -> bool:
    """True for ``scheme://...`` (a local ``file://`` URL counts as local)."""
    text = str(place)
    return "://" in text and not text.startswith("file://")


def join(base: str | Path, name: str) -> str | Path:
    """``base``/``name``, a URL for a URL base, a Path otherwise."""
    return f"{str(base).rstrip('/')}/{name}" if is_url(base) else Path(base) / name


def open_read(place: str | Path) -> IO[bytes]:
    """A seekable binary file for a local path or a URL (read in blocks, by range requests)."""
    if is_url(place):
        import fsspec

        fs, path = fsspec.core.url_to_fs(str(place))
        fs.invalidate_cache(path)  # a listing cached before the object was written misleads
        return fs.open(path, "rb")
    return open(place, "rb")


def read_bytes(place: str | Path) -> bytes:
    with open_read(place) as fh:
        return fh.read()

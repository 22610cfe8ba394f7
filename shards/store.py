"""Where a data set lives, behind one interface: a local folder, or an object store reached
through fsspec (``s3://bucket/prefix`` and the other URLs fsspec knows).

A ``Store`` holds a data set's files as plain names directly under one place: ``names``,
``stat``, ``read``, ``open``, ``write`` (atomic: whole or not at all), ``create`` (only if
absent), ``put`` (a finished local file), ``delete`` and ``fetch`` (a local file to read).
The rules of the data set (what is ours, when a shard is done, what a finalize writes) are
written once over it, in pipelines/; this module only knows how each kind of place does those
few things. Local folders go through plain file calls, with no fsspec import; URLs through
fsspec, whose S3 backend (s3fs) takes credentials and endpoint from the standard AWS settings
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, the profile files, ...).

Every name given to a store is checked to be plain (``plain_name``): no folder part, no ``..``,
so a name read from a damaged or hostile ``dataset.json`` can never reach outside the place.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat as stat_mode
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .atomic import (
    TMP_SUFFIX,
    abandoned,
    commit,
    file_digest,
    sha256_file,
    temp_path,
    write_atomic,
)

# The names fractalvid gives shards (train-000000): every name of a shard read from a store
# (a listing, dataset.json, clips.parquet) must be one of these before it is used.
SHARD_STEM = re.compile(r"(train|val)-\d{6}")
# Protocols whose first path segment is a bucket or container, which a URL must name.
BUCKETED = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2")


class PlaceError(ValueError):
    """A place that cannot hold or give a data set (a bad URL, no bucket, no credentials, an
    unreachable endpoint, a file where a folder belongs): one line naming it."""


class StoreError(RuntimeError):
    """A read or a write of a store failed mid-way; the message names the object and why."""


@dataclass(frozen=True)
class Stat:
    """A plain file's or object's size, and the store's own checksum of it where it keeps one
    (S3's ETag, unquoted), else None."""

    size: int
    etag: str | None = None


def plain_name(name: object) -> bool:
    """True for a plain file name: a non-empty str with no folder part, not ``.`` or ``..``."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\0" not in name)


def _plain(name: str) -> str:
    if not plain_name(name):
        raise StoreError(f"{name!r}: not a plain file name (refused)")
    return name


def _why(exc: BaseException) -> str:
    """botocore's, s3fs's and the OS's errors, in a phrase."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if "NoCredentials" in name or "credentials" in text.lower():
        return ("no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or a profile)")
    if "ProfileNotFound" in name:
        return text
    if any(w in name for w in ("EndpointConnection", "Connect", "Timeout")) \
            or "connect" in text.lower():
        return f"cannot reach the endpoint ({text})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return text


class Store:
    """The interface (see the module's docstring). ``url``: the place as a user names it, for
    messages; ``place``: what readers take (a Path, or the URL); ``folder``: the local folder
    the files are in, or None for a remote store (shards are then made in scratch and
    uploaded)."""

    url: str
    place: Path | str
    folder: Path | None = None

    def check(self, exists: bool = False) -> None:
        """Raise PlaceError now, in one line, if this place cannot be used: unreachable,
        denied, a file or object where a folder belongs; with ``exists``, also if it is not
        there (a data set to read)."""
        raise NotImplementedError

    def names(self) -> list[str]:
        """The plain names of every entry directly under the place (files or objects, and
        folders), sorted; [] when the place does not exist."""
        raise NotImplementedError

    def stat(self, name: str) -> Stat | None:
        """The Stat of a plain file or object ``name``; None when absent (or not a plain
        file: a folder, a link)."""
        raise NotImplementedError

    def read(self, name: str) -> bytes | None:
        """The bytes of ``name``, or None when absent."""
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        """``name`` as a seekable binary file (FileNotFoundError when absent)."""
        raise NotImplementedError

    def write(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name``, whole or not at all, replacing what was there."""
        raise NotImplementedError

    def create(self, name: str, data: bytes) -> bool:
        """Store ``data`` under ``name`` only if nothing is there: True when this call made
        it (atomic against another writer)."""
        raise NotImplementedError

    def put(self, local: Path, name: str) -> Stat:
        """Store the finished local file ``local`` under ``name`` (whole or not at all);
        returns the Stat the store now reports, checked against the file sent."""
        raise NotImplementedError

    def delete(self, name: str) -> None:
        raise NotImplementedError

    def sha256(self, name: str) -> str | None:
        """The sha256 of ``name`` where reading it back is cheap (a local file); None where
        the store's own checksum (``Stat.etag``) stands for it."""
        return None

    def abandoned(self, name: str) -> bool:
        """True for a temporary of an interrupted write that no live writer owns."""
        return False

    def join(self, name: str) -> Path | str:
        """Where a reader finds ``name``: a Path, or a URL."""
        raise NotImplementedError

    @contextmanager
    def fetch(self, name: str) -> Iterator[Path | None]:
        """A local file holding ``name`` for the block (None when absent); a remote object
        is downloaded into a private temporary folder, removed after."""
        raise NotImplementedError
        yield  # pragma: no cover

    def make(self) -> None:
        """Make the place ready to be written (a local folder is created)."""

    def __str__(self) -> str:
        return self.url


class LocalStore(Store):
    """A folder on a file system: atomic writes by temporary name, fsync and rename."""

    def __init__(self, folder: str | Path, url: str | None = None):
        self.folder = Path(folder)
        self.place = self.folder
        self.url = url or str(self.folder)

    def check(self, exists: bool = False) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise PlaceError(f"{self.url}: a file, not a folder")
        if exists and not self.folder.is_dir():
            raise PlaceError(f"{self.url}: no such folder")

    def _path(self, name: str) -> Path:
        return self.folder / _plain(name)

    def names(self) -> list[str]:
        try:
            return sorted(p.name for p in self.folder.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def stat(self, name: str) -> Stat | None:
        try:
            st = os.lstat(self._path(name))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return Stat(st.st_size) if stat_mode.S_ISREG(st.st_mode) else None

    def read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def open(self, name: str) -> IO[bytes]:
        return open(self._path(name), "rb")

    def write(self, name: str, data: bytes) -> None:
        write_atomic(self._path(name), data)

    def create(self, name: str, data: bytes) -> bool:
        # a hard link of a complete temporary is atomic: two racing writers cannot both win
        final = self._path(name)
        tmp = temp_path(final)
        try:
            tmp.write_bytes(data)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.link(tmp, final)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, local: Path, name: str) -> Stat:
        final = self._path(name)
        if Path(local).resolve() != final.resolve():
            tmp = temp_path(final)
            try:
                shutil.copyfile(local, tmp)
                commit(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return Stat(final.stat().st_size)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def sha256(self, name: str) -> str | None:
        return sha256_file(self._path(name))

    def abandoned(self, name: str) -> bool:
        return name.startswith(".") and name.endswith(TMP_SUFFIX) and \
            abandoned(self._path(name))

    def join(self, name: str) -> Path:
        return self._path(name)

    @contextmanager
    def fetch(self, name: str) -> Iterator[Path | None]:
        yield self._path(name) if self.stat(name) else None

    def make(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)


class FsspecStore(Store):
    """Objects under a prefix of an fsspec file system. An object appears under its name only
    once its upload is complete (a PUT, or a multipart upload's completion), so ``write`` and
    ``put`` are whole or not at all; ``create`` is a conditional PUT (``If-None-Match: *``)
    on S3."""

    def __init__(self, url: str, protocol: str):
        import fsspec

        self.url = self.place = url
        self.protocol = protocol
        options = {}
        if protocol in ("s3", "s3a"):  # fail fast on an unreachable endpoint
            options = {"config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                                         "retries": {"max_attempts": 2}},
                       "use_listings_cache": False,  # other writers change the prefix
                       "skip_instance_cache": True}  # the settings as they are now
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except ImportError as exc:
            extra = " (for S3: pip install 'fractalvid[s3]')" if protocol in ("s3", "s3a") else ""
            raise PlaceError(f"{url}: {exc}{extra}") from None
        except Exception as exc:  # a bad profile, a malformed URL
            raise PlaceError(f"{url}: {_why(exc)}") from None
        self.root = root.rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.root}/{_plain(name)}"

    def _failed(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(f"{what}: {_why(exc)}")

    def check(self, exists: bool = False) -> None:
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.ls(bucket, refresh=True)
            is_object = self.root != bucket and self.fs.isfile(self.root)
        except FileNotFoundError:
            raise PlaceError(f"{self.url}: no such bucket {bucket!r}") from None
        except PermissionError as exc:
            raise PlaceError(f"{self.url}: access denied ({_why(exc)})") from None
        except Exception as exc:
            raise PlaceError(f"{self.url}: {_why(exc)}") from None
        if is_object:
            raise PlaceError(f"{self.url}: an object, not a folder (prefix) to hold a data set")

    def names(self) -> list[str]:
        try:
            found = self.fs.ls(self.root, refresh=True, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._failed(f"{self.url}: listing failed", exc) from None
        return sorted(n for n in (p.rstrip("/").rsplit("/", 1)[-1] for p in found)
                      if plain_name(n))

    def stat(self, name: str) -> Stat | None:
        try:
            info = self.fs.info(self._key(name), refresh=True)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}", exc) from None
        if info.get("type") == "directory":
            return None
        tag = info.get("ETag") or info.get("etag")
        return Stat(int(info["size"]), tag.strip('"') if isinstance(tag, str) else None)

    def read(self, name: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._key(name))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}: read failed", exc) from None

    def open(self, name: str) -> IO[bytes]:
        try:
            return self.fs.open(self._key(name), "rb")
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}: read failed", exc) from None

    def write(self, name: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(self._key(name), data)
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}: upload failed", exc) from None

    def create(self, name: str, data: bytes) -> bool:
        try:
            if self.protocol in ("s3", "s3a"):
                self.fs.pipe_file(self._key(name), data, IfNoneMatch="*")
            elif self.fs.exists(self._key(name)):
                return False
            else:
                self.fs.pipe_file(self._key(name), data)
        except FileExistsError:
            return False
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}: upload failed", exc) from None
        return True

    def put(self, local: Path, name: str) -> Stat:
        try:
            self.fs.put_file(str(local), self._key(name))
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}: upload failed", exc) from None
        got, size = self.stat(name), Path(local).stat().st_size
        if got is None or got.size != size:
            raise StoreError(f"{self.url}/{name}: not the size sent")
        md5 = hashlib.md5(usedforsecurity=False)
        if got.etag is not None and "-" not in got.etag and got.etag != file_digest(local, md5):
            # a single-part upload's ETag is its MD5: S3 says so without a read back
            raise StoreError(f"{self.url}/{name}: the store's MD5 differs from the file sent")
        return got

    def delete(self, name: str) -> None:
        try:
            self.fs.rm_file(self._key(name))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._failed(f"{self.url}/{name}: delete failed", exc) from None

    def join(self, name: str) -> str:
        return f"{self.url}/{_plain(name)}"

    @contextmanager
    def fetch(self, name: str) -> Iterator[Path | None]:
        folder = Path(tempfile.mkdtemp(prefix="fractalvid-fetch-"))
        try:
            path = folder / _plain(name)
            try:
                self.fs.get_file(self._key(name), str(path))
            except FileNotFoundError:
                path = None
            except Exception as exc:
                raise self._failed(f"{self.url}/{name}: download failed", exc) from None
            yield path
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _protocol(text: str) -> str | None:
    """The scheme of ``scheme://...``; None for a local path."""
    scheme, sep, _ = text.partition("://")
    return scheme.lower() if sep and scheme and "/" not in scheme else None


def open_store(place: str | Path | Store) -> Store:
    """The Store of a folder path, a ``file://`` URL or another fsspec URL; PlaceError, in one
    line, for a URL fsspec does not know or one that names no bucket. Nothing is contacted
    yet (``check`` does that)."""
    if isinstance(place, Store):
        return place
    if isinstance(place, Path):
        return LocalStore(place)
    text = str(place).strip()
    if not text:  # never the current folder by accident
        raise PlaceError("the output place is empty: name a folder (. for the current one) or "
                         "a URL")
    protocol = _protocol(text)
    if protocol is None:
        return LocalStore(Path(text))
    rest = text.split("://", 1)[1].rstrip("/")
    if protocol in ("file", "local"):
        if not rest:
            raise PlaceError(f"{text}: names no folder")
        return LocalStore(Path(rest if rest.startswith("/") else "/" + rest), url=text)
    from fsspec.registry import known_implementations, registry

    if protocol not in known_implementations and protocol not in registry:
        known = ", ".join(p for p in ("s3", "gs", "az", "hf", "memory") if p in
                          known_implementations)
        raise PlaceError(f"{text}: unknown storage protocol {protocol!r} (fsspec knows "
                         f"{known}, ...)")
    if not rest or (protocol in BUCKETED and rest.startswith("/")):
        raise PlaceError(f"{text}: names no bucket (write {protocol}://BUCKET/PREFIX)")
    return FsspecStore(f"{protocol}://{rest}", protocol)


def dataset_store(source: str | Path) -> Store | None:
    """The Store of ``source`` when it names a data set's place (a local folder, or a URL that
    is no single .json or .tar object or brace pattern); None otherwise."""
    text = str(source)
    if _protocol(text) in (None, "file", "local"):
        store = open_store(source)
        return store if store.folder is not None and store.folder.is_dir() else None
    if text.endswith((".json", ".tar")) or "{" in text:
        return None
    return open_store(text)


def open_read(place: str | Path) -> IO[bytes]:
    """A seekable binary file for a local path or a URL (read in blocks, by range requests).
    FileNotFoundError when absent; StoreError, in one line, when the store fails."""
    text = str(place)
    if _protocol(text) in (None, "file", "local"):
        return open(text.split("://", 1)[1] if "://" in text else text, "rb")
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(text)
        fs.invalidate_cache(path)  # a listing cached before the object was written misleads
        return fs.open(path, "rb")
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise StoreError(f"{text}: {_why(exc)}") from None


def read_bytes(place: str | Path) -> bytes:
    with open_read(place) as fh:
        return fh.read()

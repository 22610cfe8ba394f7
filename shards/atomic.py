"""Atomic file commits: write under a temporary name, fsync, rename.

Temporary names start with a dot and end in ``.tmp``, so globs of finished shards never see
them and a restart can remove them. They also name the writer (``.NAME@HOST.PID.tmp``), so a
restart removes only what no live process is still writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

TMP_SUFFIX = ".tmp"
# A writer on another machine (a shared file system) cannot be asked whether it lives: its
# temporary counts as abandoned once untouched this long (a tar grows with every clip).
STALE_SECONDS = 30 * 60


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}@{_host()}.{os.getpid()}{TMP_SUFFIX}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def abandoned(tmp: Path, now: float | None = None) -> bool:
    """True when no live process writes ``tmp``: its writer (named in it) is this process or
    dead on this host, or it is another host's and untouched for STALE_SECONDS."""
    body = tmp.name[: -len(TMP_SUFFIX)]
    host, _, pid = body.rpartition("@")[2].rpartition(".")
    if "@" not in body or not pid.isdigit():
        return True  # not a name temp_path makes (an older version's, say)
    if host == _host():
        return int(pid) == os.getpid() or not _pid_alive(int(pid))
    try:
        age = (time.time() if now is None else now) - tmp.stat().st_mtime
    except FileNotFoundError:
        return False  # its writer just committed or removed it
    return age > STALE_SECONDS


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and rename it to ``final`` (atomic on POSIX file systems)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_atomic(final: Path, data: bytes) -> None:
    tmp = temp_path(final)
    try:
        tmp.write_bytes(data)
        commit(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_temporaries(folder: Path, stem: str) -> list[Path]:
    """Delete leftovers of interrupted writes of files named ``stem.*``; return what went.
    A temporary that a live process is still writing stays (``abandoned``): two runs that make
    the same shard at once both finish it, with the same bytes."""
    gone = []
    for p in folder.glob(f".{stem}.*{TMP_SUFFIX}"):
        if abandoned(p):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def json_bytes(obj: object) -> bytes:
    """The bytes of a JSON file fractalvid writes: indented, keys sorted, a final newline."""
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def file_digest(path: Path, h, chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes under the hashlib object ``h``, read in chunks."""
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    return file_digest(path, hashlib.sha256(), chunk)

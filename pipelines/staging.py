"""Where a run makes its shards before they are in the store.

A local folder takes each shard in place: the shard's own atomic commit makes it visible
whole, and the workers check which are done (sha256 included). A remote store gets them from
a scratch folder of this run's own (``--tmp``, else TMPDIR), made before the store is touched
and removed when the run ends, failed or not: each finished shard is uploaded tar, Parquet,
then the done marker (which records the sizes and ETags the store reports), while the workers
make the next ones. A failed upload stops the run at the next finished shard; what is in the
store stays, and a rerun makes the rest.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from ..shards.atomic import json_bytes
from ..shards.store import Store, StoreError
from .config import Config, ConfigError
from .plan import ShardSpec
from .progress import read_stats, shard_done, shard_paths


class InPlace:
    """Shards made straight into a local store's folder."""

    def __init__(self, store: Store):
        self.store, self.folder = store, store.folder

    def todo(self, shards: list[ShardSpec], cfg: Config) -> list[ShardSpec]:
        return shards  # each worker checks its shard, sha256 included, in parallel

    def publish(self, shard: ShardSpec) -> None:
        pass  # committed in place by the worker

    def wait(self) -> None:
        pass


class Uploads:
    """Shards made in ``scratch`` and uploaded to ``store`` on threads of this process: tar,
    Parquet, then the marker; the local files go once the marker is up."""

    def __init__(self, store: Store, scratch: Path, threads: int = 2):
        self.store, self.folder = store, scratch
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.pending: list[Future] = []

    def todo(self, shards: list[ShardSpec], cfg: Config) -> list[ShardSpec]:
        return [s for s in shards if not shard_done(self.store, s, cfg)]

    def publish(self, shard: ShardSpec) -> None:
        """Upload ``shard``; first raise the error of an upload that has failed, so that a
        dead store stops the run at the next finished shard."""
        for fut in self.pending:
            if fut.done() and fut.exception() is not None:
                raise fut.exception()
        self.pending.append(self.pool.submit(self._upload, shard))

    def _upload(self, shard: ShardSpec) -> None:
        tar, parquet, _ = shard_paths(self.folder, shard)
        stats = read_stats(self.folder, shard)
        if stats is None:
            raise StoreError(f"{shard.name}: no finished shard in {self.folder} to upload")
        for ext, path in (("tar", tar), ("parquet", parquet)):
            got = self.store.put(path, f"{shard.name}.{ext}")
            stats[f"{ext}_bytes"], stats[f"{ext}_etag"] = got.size, got.etag
        self.store.write(f"{shard.name}.stats.json", json_bytes(stats))
        for path in shard_paths(self.folder, shard):
            path.unlink(missing_ok=True)

    def wait(self) -> None:
        """Wait for every upload; the first failure is raised (the others still finish)."""
        errors = []
        for fut in self.pending:
            try:
                fut.result()
            except BaseException as exc:  # all are waited for before one is raised
                errors.append(exc)
        self.pool.shutdown()
        if errors:
            raise errors[0]


def _scratch(cfg: Config, tmp: str | Path | None) -> tuple[Path, list[Path]]:
    """A new folder of this run's own under --tmp (else TMPDIR), tried with a write: (the
    folder, the folders this call made to hold it, innermost first). ConfigError when it
    cannot be."""
    base = Path(tmp or os.environ.get("TMPDIR") or tempfile.gettempdir()).absolute()
    made = [p for p in (base, *base.parents) if not p.exists()]
    try:
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"fractalvid-{cfg.fingerprint()}-", dir=base))
        (folder / ".probe").write_bytes(b"")
        (folder / ".probe").unlink()
    except OSError as exc:
        _remove_made(made)
        raise ConfigError(f"--tmp {base}: cannot write the scratch folder there "
                         f"({exc.strerror or exc})") from None
    return folder, made


def _remove_made(made: list[Path]) -> None:
    """Remove the folders this run made for --tmp (innermost first), while they are empty."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def staging(cfg: Config, store: Store, tmp: str | Path | None = None, threads: int = 2
            ) -> Iterator[InPlace | Uploads]:
    """Where this run makes its shards for ``store`` (see the module's docstring)."""
    if store.folder is not None:
        yield InPlace(store)
        return
    scratch, made = _scratch(cfg, tmp)
    uploads = Uploads(store, scratch, threads)
    try:
        try:
            yield uploads
        except OSError as exc:
            if exc.errno == errno.ENOSPC and not exc.filename:
                raise OSError(exc.errno, exc.strerror, f"{scratch} (the scratch folder)") \
                    from None
            raise
        finally:
            uploads.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _remove_made(made)

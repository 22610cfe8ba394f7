"""Reading a data set back, for training code: shards in, ``(frames, label, meta)`` out.

No torch needed: ``ClipReader`` is a plain iterable that handles shard lists (a folder, a brace
URL pattern, a wids index JSON or a list of paths), shard shuffling, splitting across nodes and
data-loader workers, MP4 decoding and clip sampling (e.g. 8 frames at stride 2). For torch,
``torch_dataset`` wraps it as an ``IterableDataset``; for the webdataset library,
``clip_decoder`` is a decode handler; for wids, ``WidsInPlace`` reads shards where they are.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from fractalvid.shards.codec import (
    MEDIA,
    decode_clip,
    differs_from_record,
    media_of,
    recorded_shape,
)
from fractalvid.shards.slots import (
    EpochCounters,
    rank_and_world,
    whole_number,
    worker_slot,
)
from fractalvid.shards.store import SHARD_STEM, dataset_store, open_read, read_bytes


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


def shard_entries(source: str | Path | Sequence[str | Path], split: str = "train"
                  ) -> list[tuple[str, int | None]]:
    """(url, sample count or None where no index says) of each shard of ``source``; the
    forms are those of ``shard_urls``."""
    if not isinstance(source, (str, Path)):
        return [(str(s), None) for s in source]
    text = str(source)
    store = dataset_store(text)
    if store is not None:  # a data set's folder or URL
        index = f"index.{split}.json"
        if store.stat(index) is not None:
            return shard_entries(str(store.join(index)))
        urls = [str(store.join(n)) for n in store.names()
                if n.startswith(f"{split}-") and SHARD_STEM.fullmatch(n[:-4]) and
                n.endswith(".tar")]
        if not urls:
            raise FileNotFoundError(f"{store}: no index.{split}.json and no {split}-*.tar shards")
        return [(u, None) for u in urls]
    if text.endswith(".json"):
        index = json.loads(read_bytes(text))
        base = os.path.dirname(text)
        return [(u["url"] if "://" in u["url"] else os.path.join(base, u["url"]),
                 u.get("nsamples")) for u in index["shardlist"]]
    if "{" in text:
        from braceexpand import braceexpand  # a dependency of webdataset

        return [(u, None) for u in braceexpand(text)]
    return [(text, None)]


def shard_urls(source: str | Path | Sequence[str | Path], split: str = "train") -> list[str]:
    """The shard paths of ``source``:

    - a data-set folder: its ``index.{split}.json`` (or, before finalize, ``{split}-*.tar``);
    - a wids index JSON file: its shardlist, relative to the file's folder;
    - a brace pattern such as ``data/tiny/train-{000000..000004}.tar``;
    - a list of paths.
    """
    return [url for url, _ in shard_entries(source, split)]


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


def clip_decoder(color: bool = False, threads: int = 1, frames: int | None = None,
                 stride: int = 1) -> Callable[[str, bytes], np.ndarray | None]:
    """A webdataset decode handler: ``.decode(clip_decoder())`` turns ``mp4`` and ``npy.zst``
    members into frames [T, H, W] uint8 ([T, H, W, 3] with ``color``); other members pass
    through. Decodes in this process, on ``threads`` threads. ``frames`` (and ``stride``):
    the centred window of that many frames instead of the whole clip, [frames, H, W(, 3)],
    so that clips of different lengths batch (``.batched(8, collation_fn=collate)``)."""
    whole_number("frames", frames, 1, none_ok=True)
    whole_number("stride", stride, 1)

    def handler(key: str, data: bytes) -> np.ndarray | None:
        ext = key.lower().partition(".")[2] or key.lower()
        ext = next((m for m in MEDIA if ext == m or ext.endswith("." + m)), None)
        if ext is None:
            return None
        clip = decode_clip(ext, data, color, threads)
        return clip if frames is None else clip[sample_window(len(clip), frames, stride, None)]

    return handler


def collate(batch: Sequence[tuple[Any, int | None, Any]]) -> tuple[Any, Any, list]:
    """A DataLoader ``collate_fn`` (and webdataset ``collation_fn``) for (frames, label, meta)
    items: (frames stacked [B, T, H, W(, 3)] uint8, labels [B] int64 with -1 where unlabeled,
    metas as a list). Torch tensors in give torch tensors out, numpy gives numpy. The frames
    must share a shape: give the reader ``frames=N`` (clips vary in length)."""
    frames, labels, metas = zip(*batch) if batch else ((), (), ())
    shapes = sorted({tuple(f.shape) for f in frames})
    if len(shapes) > 1:
        raise ValueError(f"clips of shapes {shapes[:3]} cannot be stacked into one batch: "
                         "pass frames=N (a window of N frames) to the reader or decoder")
    ids = [-1 if y is None else int(y) for y in labels]
    torch = sys.modules.get("torch")
    if torch is not None and frames and isinstance(frames[0], torch.Tensor):
        return torch.stack(list(frames)), torch.tensor(ids, dtype=torch.int64), list(metas)
    return np.stack(frames) if frames else np.empty((0,), np.uint8), \
        np.asarray(ids, np.int64), list(metas)


mp4_decoder = clip_decoder  # its name before the raw codec


def sample_window(t: int, frames: int | None, stride: int, rng: random.Random | None) -> np.ndarray:
    """Indices of a clip window: ``frames`` indices ``stride`` apart inside 0..t-1, starting at
    a random offset (``rng``) or centred (None); all t frames when ``frames`` is None. A window
    longer than the clip wraps around (the clip loops)."""
    if frames is None:
        return np.arange(t)
    span = (frames - 1) * stride + 1
    if span > t:
        return (np.arange(frames) * stride) % t
    start = rng.randrange(t - span + 1) if rng is not None else (t - span) // 2
    return start + np.arange(frames) * stride


HANDLERS = ("raise", "warn", "skip")


class ClipReader:
    """Iterate ``(frames, label, meta)`` over a data set's shards.

    frames: [frames, H, W] uint8 (or [frames, H, W, 3] for colour data sets), sampled with
    ``frames`` and ``stride`` (None: the whole clip); label: the class id (None when
    unlabeled); meta: the clip's KEY.json. With ``shuffle``, shard order and a buffer of
    ``buffer`` samples are shuffled, seeded by (seed, epoch), and windows start at random
    offsets; without it, the order is the shards' and windows are centred.

    Epochs: each pass over the reader is the next epoch (0, 1, ...), counted in every process
    that iterates it, DataLoader workers included (persistent or not), so a new pass gets a
    new order; ``set_epoch(e)`` makes the next pass epoch ``e`` everywhere.

    Ranks: rank and world_size default to the RANK and WORLD_SIZE environment variables
    (torchrun sets them); DataLoader workers come from torch. With ``even`` (the default) each
    rank reads the same number of clips, total // world_size, a contiguous run of the epoch's
    shard order (the few left over are dropped, other ones each epoch when shuffling), so no
    rank waits at an epoch's end for another; its workers split that run. ``even=False`` deals
    whole shards round-robin to (rank, worker) pairs, which reads no shard twice but can give
    ranks different counts (warned). Either way every clip is read by at most one of them.

    Errors: a damaged shard or clip raises ClipError naming the shard and the key
    (``handler="raise"``); ``"warn"`` warns and skips it, ``"skip"`` skips it silently, a
    callable is called with the ClipError (it may raise) and the clip skipped; ``skipped``
    counts them over all processes. ``check`` (the default) compares each MP4 clip's bytes
    with the sha256 its json records, so a damaged clip is never read silently (an MP4 with a
    flipped byte often still decodes, to wrong frames); a raw clip's zstd frame carries its
    own checksum, which zstd checks as it unpacks. ``check=False`` skips the sha256. Clips
    decode in this process (MP4 by PyAV, raw by zstd) on ``threads`` threads, one by default
    so DataLoader workers do not oversubscribe the cores.

    ``state_dict()`` / ``load_state_dict()``: resume a pass mid-epoch (torchdata's
    StatefulDataLoader calls them in each worker).
    """

    def __init__(
        self,
        source: str | Path | Sequence[str | Path],
        split: str = "train",
        frames: int | None = None,
        stride: int = 1,
        shuffle: bool = False,
        seed: int = 0,
        buffer: int = 64,
        rank: int | None = None,
        world_size: int | None = None,
        color: bool | None = None,
        even: bool = True,
        handler: str | Callable[[ClipError], None] = "raise",
        check: bool = True,
        threads: int = 1,
    ) -> None:
        whole_number("frames", frames, 1, none_ok=True)
        whole_number("stride", stride, 1)
        whole_number("buffer", buffer, 1)
        whole_number("threads", threads, 1)
        if not callable(handler) and handler not in HANDLERS:
            raise ValueError(f"handler={handler!r}: expected one of {', '.join(HANDLERS)} or "
                             "a function taking the ClipError")
        entries = shard_entries(source, split)
        if not entries:
            raise ValueError(f"{source}: no shards for split {split!r}")
        self.urls = [url for url, _ in entries]
        self._counts = [n for _, n in entries]
        self.frames, self.stride = frames, stride
        self.shuffle, self.seed, self.buffer = shuffle, seed, buffer
        self.rank, self.world_size = rank_and_world(rank, world_size)
        self.color, self.even, self.handler, self.check = color, even, handler, check
        self.threads = threads
        self._counters = EpochCounters()
        self._at, self._resume = [0, 0], None
        if self.world_size > 1:
            self._check_split()

    def _check_split(self) -> None:
        counts = self.counts()
        total = sum(counts)
        if self.even and total < self.world_size:
            raise ValueError(f"{total} clips cannot be split over {self.world_size} ranks")
        if not self.even and (len(counts) % self.world_size or len(set(counts)) > 1):
            warnings.warn(f"{len(counts)} shards of {min(counts)}-{max(counts)} clips deal "
                          f"unevenly over {self.world_size} ranks: ranks that run out first can "
                          "hang DistributedDataParallel at an epoch's end; use even=True",
                          stacklevel=3)

    def counts(self) -> list[int]:
        """Samples per shard (from the index, else counted from the tar headers)."""
        self._counts = [count_samples(u) if n is None else n
                        for u, n in zip(self.urls, self._counts)]
        return self._counts

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch``, in this process and in DataLoader workers."""
        self._counters.set_epoch(epoch)

    @property
    def skipped(self) -> int:
        """Damaged shards and clips passed over so far, in every process reading for this one."""
        return self._counters.skipped()

    def _order(self, epoch: int) -> list[int]:
        order = list(range(len(self.urls)))
        if self.shuffle:
            random.Random(f"{self.seed}:{epoch}").shuffle(order)
        return order

    def my_shards(self, epoch: int = 0) -> list[tuple[str, int, int | None]]:
        """What this (rank, worker) reads in ``epoch``: (shard, first sample, stop), in order."""
        order = self._order(epoch)
        worker, workers = worker_slot()
        if not self.even:
            slot, slots = self.rank * workers + worker, self.world_size * workers
            return [(self.urls[i], 0, None) for i in order[slot::slots]]
        counts = self.counts()
        per_rank = sum(counts) // self.world_size
        base = self.rank * per_rank
        lo, hi = base + per_rank * worker // workers, base + per_rank * (worker + 1) // workers
        plan, at = [], 0
        for i in order:
            if at < hi and at + counts[i] > lo:
                plan.append((self.urls[i], max(lo - at, 0), min(hi - at, counts[i])))
            at += counts[i]
        return plan

    def _failed(self, exc: ClipError) -> None:
        if self.handler == "raise":
            raise exc
        self._counters.skip()
        if self.handler == "warn":
            warnings.warn(f"{exc} (skipped)", stacklevel=3)
        elif callable(self.handler):
            self.handler(exc)

    def samples(self, epoch: int = 0) -> Iterator[dict[str, Any]]:
        """Raw samples of my shards in ``epoch`` ({"__key__", "__url__", "json", "mp4" or
        "npy.zst", "cls"?}), buffer-shuffled; damaged shards go to the handler."""
        rng = random.Random(f"{self.seed}:{epoch}:{self.rank}:{worker_slot()[0]}")
        pool: list[dict] = []
        for url, first, stop in self.my_shards(epoch):
            try:
                for sample in iter_samples(url, first, stop):
                    if not self.shuffle or self.buffer <= 1:
                        yield sample
                        continue
                    pool.append(sample)
                    if len(pool) >= self.buffer:
                        yield pool.pop(rng.randrange(len(pool)))
            except ClipError as exc:
                self._failed(exc)
        rng.shuffle(pool)
        yield from pool

    def _clip(self, sample: dict[str, Any], epoch: int) -> tuple[np.ndarray, int | None, dict]:
        url, key = sample["__url__"], sample["__key__"]
        try:
            meta = json.loads(sample["json"])
            ext = media_of(sample)
            data = sample[ext]
            if self.check and ext == "mp4" and differs_from_record(data, meta.get("sha256")):
                raise ValueError("its bytes differ from the sha256 in its json (damaged)")
            color = meta.get("channels", 1) == 3 if self.color is None else self.color
            clip = decode_clip(ext, data, color, self.threads, recorded_shape(meta))
            label = int(sample["cls"]) if "cls" in sample else None
        except (KeyError, ValueError, TypeError) as exc:
            missing = f"no {exc.args[0]} member" if isinstance(exc, KeyError) else str(exc)
            raise ClipError(url, key, missing) from exc
        rng = random.Random(f"{self.seed}:{epoch}:{meta.get('key', key)}") if self.shuffle \
            else None
        if self.frames is None:
            return clip, label, meta  # the whole clip: no copy
        return clip[sample_window(clip.shape[0], self.frames, self.stride, rng)], label, meta

    def state_dict(self) -> dict[str, int]:
        """Where this process's pass stands: {"epoch", "consumed"} (samples taken so far,
        damaged ones included). torchdata's StatefulDataLoader asks each worker's copy."""
        epoch, consumed = self._at
        return {"epoch": epoch, "consumed": consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Make the next pass the rest of the pass ``state`` was taken in: the same epoch,
        from the sample after the last one consumed."""
        whole_number("epoch", state.get("epoch"), 0)
        whole_number("consumed", state.get("consumed"), 0)
        self._resume = (state["epoch"], state["consumed"])

    def __iter__(self) -> Iterator[tuple[np.ndarray, int | None, dict]]:
        skip = 0
        if self._resume is not None:
            (epoch, skip), self._resume = self._resume, None
            self._counters.set_epoch(epoch)
        epoch = self._counters.next_epoch()
        self._at = [epoch, skip]
        for i, sample in enumerate(self.samples(epoch)):
            if i < skip:  # consumed before the state was taken: not decoded again
                continue
            self._at[1] = i + 1
            try:
                item = self._clip(sample, epoch)
            except ClipError as exc:
                self._failed(exc)
                continue
            yield item


def torch_dataset(source):
    """``source`` (a ClipReader, a ClipStream, any iterable of (frames, label, meta)) as a torch
    ``IterableDataset`` of (frames uint8 tensor, label, meta); safe with any number of
    DataLoader workers (each reads its own shards) and any start method (it pickles)."""
    return _torch_clips()(source)


@functools.lru_cache(maxsize=1)
def _torch_clips() -> type:
    """The IterableDataset class, made once torch is wanted (the core install has no torch)
    and reachable as ``reader.TorchClips``, so workers that are spawned can unpickle it."""
    import torch

    class TorchClips(torch.utils.data.IterableDataset):
        def __init__(self, source):
            super().__init__()
            self.source = source

        def __iter__(self):
            for frames, label, meta in self.source:
                if isinstance(frames, np.ndarray):
                    frames = torch.from_numpy(np.ascontiguousarray(frames))
                yield frames, label, meta

    TorchClips.__module__, TorchClips.__qualname__ = __name__, "TorchClips"
    return TorchClips


def __getattr__(name: str):
    if name == "TorchClips":
        return _torch_clips()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def wids_index(source: str, split: str = "train") -> dict:
    """A wids shard index for a data set in object storage: each shard a ``pipe:`` URL that
    ``fractalvid cat`` fetches (wids runs it, filling in ``{local}``). Write it to a JSON file
    and give that to ``wids.ShardListDataset`` (with ``localname=WidsInPlace()``)."""
    import shlex

    exe = f"{shlex.quote(sys.executable)} -m fractalvid"
    return {"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": split,
            "shardlist": [{"url": f"pipe:{exe} cat {shlex.quote(url)} > {{local}}",
                           "nsamples": n if n is not None else count_samples(url)}
                          for url, n in shard_entries(source, split)]}


class WidsInPlace:
    """A ``localname`` for ``wids.ShardListDataset`` that reads local shards where they are:
    ``wids.ShardListDataset("OUT/index.train.json", localname=WidsInPlace())``.

    By default wids copies each shard it opens into /tmp/_wids_cache (or $WIDS_CACHE) and keeps
    the copy, so an epoch leaves a second copy of the data set there. ``localname=lambda u: u``
    avoids the copy but puts wids' lock files beside the shards, which fails on read-only
    storage. This maps each local shard to a symbolic link in ``scratch`` (by default a new
    temporary folder, removed with this object): wids finds the link, opens the original
    through it, and keeps its lock files there. Remote URLs (http, s3, ...) map to a plain
    file in ``scratch``, which wids downloads into. Picklable, for DataLoader workers.
    """

    def __init__(self, scratch: str | Path | None = None):
        if scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="fractalvid_wids_"))
            weakref.finalize(self, shutil.rmtree, self.scratch, ignore_errors=True)
        else:
            self.scratch = Path(scratch)
            self.scratch.mkdir(parents=True, exist_ok=True)

    def __call__(self, url: str) -> str:
        parsed = urlparse(url)
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]  # one name per URL, and short
        name = "shard.tar" if url.startswith("pipe:") else Path(parsed.path).name
        link = self.scratch / f"{digest}-{name}"
        if parsed.scheme not in ("", "file"):
            return str(link)  # remote: wids downloads into it
        target = Path(parsed.path if parsed.scheme == "file" else url).resolve()
        if not target.is_file():
            raise FileNotFoundError(f"{url}: no such shard")
        try:
            link.symlink_to(target)
        except FileExistsError:  # made earlier, or by another worker at the same time
            pass
        return str(link)

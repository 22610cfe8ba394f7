"""Reading a data set back, for training code: shards in, ``(frames, label, meta)`` out.

No torch needed: ``ClipReader`` is a plain iterable that handles shard lists (a folder, a brace
URL pattern, a wids index JSON or a list of paths), shard shuffling, splitting across nodes and
data-loader workers, MP4 decoding and clip sampling (e.g. 8 frames at stride 2). For torch,
``torch_dataset`` wraps it as an ``IterableDataset``; for the webdataset library,
``clip_decoder`` is a decode handler; for wids, ``WidsInPlace`` reads shards where they are.

This module holds ``ClipReader``; the pieces it is made of live by job (samples.py: tar
iteration; sources.py: shard lists; window.py: frame windows; slots.py: ranks, workers and
epochs; adapters.py: the other loaders), and their public names are importable from here.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .adapters import (
    WidsInPlace,
    clip_decoder,
    collate,
    mp4_decoder,
    torch_dataset,
    wids_index,
)
from .codec import decode_clip, differs_from_record, is_still, media_of, recorded_shape
from .samples import ClipError, count_samples, iter_samples, read_clip, read_member
from .slots import EpochCounters, rank_and_world, whole_number, worker_slot
from .sources import shard_entries, shard_urls
from .window import sample_window

# The reader's public names, as they were when all of them lived in this module.
__all__ = ["ClipReader", "ClipError", "HANDLERS", "WidsInPlace", "clip_decoder", "collate",
           "count_samples", "iter_samples", "mp4_decoder", "read_clip", "read_member",
           "sample_window", "shard_entries", "shard_urls", "torch_dataset", "wids_index"]


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
    counts them over all processes. ``check`` (the default) compares each MP4 clip's (and
    image's) bytes with the sha256 its json records, so a damaged clip is never read
    silently (an MP4 or a JPEG with a flipped byte often still decodes, to wrong frames); a
    raw clip's zstd frame carries its own checksum, which zstd checks as it unpacks.
    ``check=False`` skips the sha256. Clips decode in this process (MP4 by PyAV, raw by zstd,
    images by Pillow) on ``threads`` threads, one by default so DataLoader workers do not
    oversubscribe the cores.

    Stills (``media=image`` data sets): frames is one image, [H, W] or [H, W, 3] uint8, and
    ``frames`` / ``stride`` do not apply.

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
            if self.check and ext not in ("npy.zst",) and \
                    differs_from_record(data, meta.get("sha256")):
                raise ValueError("its bytes differ from the sha256 in its json (damaged)")
            color = meta.get("channels", 1) == 3 if self.color is None else self.color
            clip = decode_clip(ext, data, color, self.threads, recorded_shape(meta))
            label = int(sample["cls"]) if "cls" in sample else None
        except (KeyError, ValueError, TypeError) as exc:
            missing = f"no {exc.args[0]} member" if isinstance(exc, KeyError) else str(exc)
            raise ClipError(url, key, missing) from exc
        if is_still(ext, meta):  # a still image: [H, W(, 3)], no window
            return clip[0], label, meta
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

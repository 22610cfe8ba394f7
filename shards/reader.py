"""Reading a data set back, for training code: shards in, ``(frames, label, meta)`` out.

No torch needed: ``ClipReader`` is a plain iterable that handles shard lists (a folder, a brace
URL pattern, a wids index JSON or a list of paths), shard shuffling, splitting across nodes and
data-loader workers, MP4 decoding and clip sampling (e.g. 8 frames at stride 2). For torch,
``torch_dataset`` wraps it as an ``IterableDataset``; for the webdataset library,
``mp4_decoder`` is a decode handler; for wids, ``WidsInPlace`` reads shards where they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from fractalvid.shards.encode import decode_mp4


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


def shard_urls(source: str | Path | Sequence[str | Path], split: str = "train") -> list[str]:
    """The shard paths of ``source``:

    - a data-set folder: its ``index.{split}.json`` (or, before finalize, ``{split}-*.tar``);
    - a wids index JSON file: its shardlist, relative to the file's folder;
    - a brace pattern such as ``data/tiny/train-{000000..000004}.tar``;
    - a list of paths.
    """
    if not isinstance(source, (str, Path)):
        return [str(s) for s in source]
    text = str(source)
    path = Path(text)
    if path.is_dir():
        index = path / f"index.{split}.json"
        if index.is_file():
            return shard_urls(index)
        urls = sorted(str(p) for p in path.glob(f"{split}-[0-9]*.tar"))
        if not urls:
            raise FileNotFoundError(f"{path}: no index.{split}.json and no {split}-*.tar shards")
        return urls
    if text.endswith(".json"):
        index = json.loads(path.read_text())
        base = path.parent
        return [u["url"] if "://" in u["url"] else str(base / u["url"]) for u in index["shardlist"]]
    if "{" in text:
        from braceexpand import braceexpand  # a dependency of webdataset

        return list(braceexpand(text))
    return [text]


def mp4_decoder(color: bool = False) -> Callable[[str, bytes], np.ndarray | None]:
    """A webdataset decode handler: ``.decode(mp4_decoder())`` turns ``mp4`` members into
    frames [T, H, W] uint8 ([T, H, W, 3] with ``color``); other members pass through."""

    def handler(key: str, data: bytes) -> np.ndarray | None:
        if key.lower().rsplit(".", 1)[-1] != "mp4":
            return None
        return decode_mp4(data, color=color)

    return handler


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


def _worker() -> tuple[int, int]:
    """(worker id, worker count) of a torch DataLoader worker, else (0, 1); torch is only
    consulted when the caller has already imported it."""
    torch = sys.modules.get("torch")
    if torch is not None:
        info = torch.utils.data.get_worker_info()
        if info is not None:
            return info.id, info.num_workers
    return 0, 1


class ClipReader:
    """Iterate ``(frames, label, meta)`` over a data set's shards.

    frames: [frames, H, W] uint8 (or [frames, H, W, 3] for colour data sets), sampled with
    ``frames`` and ``stride`` (None: the whole clip); label: the class id (None when
    unlabeled); meta: the clip's KEY.json. With ``shuffle``, shard order and a buffer of
    ``buffer`` samples are shuffled, seeded by (seed, epoch), and windows start at random
    offsets; without it, the order is the shards' and windows are centred.

    Shards are dealt round-robin to (rank, worker) pairs: rank and world_size default to the
    RANK and WORLD_SIZE environment variables (torchrun sets them), workers come from torch's
    DataLoader when it runs this. Every sample is read by exactly one of them.
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
    ) -> None:
        if frames is not None and frames < 1:
            raise ValueError(f"frames={frames}: must be at least 1 (or None for whole clips)")
        if stride < 1:
            raise ValueError(f"stride={stride}: must be at least 1")
        if buffer < 1:
            raise ValueError(f"buffer={buffer}: must be at least 1 (1: no sample shuffling)")
        self.urls = shard_urls(source, split)
        if not self.urls:
            raise ValueError(f"{source}: no shards for split {split!r}")
        self.frames, self.stride = frames, stride
        self.shuffle, self.seed, self.buffer = shuffle, seed, buffer
        self.rank = int(os.environ.get("RANK", 0)) if rank is None else rank
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
        if self.world_size < 1:
            raise ValueError(f"world_size={self.world_size}: must be at least 1")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside 0..{self.world_size - 1}")
        self.color = color
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently next time (call once per epoch, as with DistributedSampler)."""
        self.epoch = epoch

    def my_shards(self) -> list[str]:
        """The shards this (rank, worker) reads, in reading order."""
        urls = list(self.urls)
        if self.shuffle:
            random.Random(f"{self.seed}:{self.epoch}").shuffle(urls)
        worker, workers = _worker()
        slot, slots = self.rank * workers + worker, self.world_size * workers
        return urls[slot::slots]

    def samples(self) -> Iterator[dict[str, Any]]:
        """Raw samples of my shards ({"__key__", "mp4", "json", "cls"?}), buffer-shuffled."""
        rng = random.Random(f"{self.seed}:{self.epoch}:{self.rank}:{_worker()[0]}")
        pool: list[dict] = []
        for url in self.my_shards():
            for sample in iter_samples(Path(url)):
                if not self.shuffle or self.buffer <= 1:
                    yield sample
                    continue
                pool.append(sample)
                if len(pool) >= self.buffer:
                    yield pool.pop(rng.randrange(len(pool)))
        rng.shuffle(pool)
        yield from pool

    def __iter__(self) -> Iterator[tuple[np.ndarray, int | None, dict]]:
        for sample in self.samples():
            meta = json.loads(sample["json"])
            color = meta.get("channels", 1) == 3 if self.color is None else self.color
            clip = decode_mp4(sample["mp4"], color=color)
            rng = random.Random(f"{self.seed}:{self.epoch}:{meta['key']}") if self.shuffle \
                else None  # fmt: skip
            idx = sample_window(clip.shape[0], self.frames, self.stride, rng)
            label = int(sample["cls"]) if "cls" in sample else None
            yield clip[idx], label, meta


def torch_dataset(reader: ClipReader):
    """``reader`` as a torch ``IterableDataset`` of (frames uint8 tensor, label, meta); safe
    with any number of DataLoader workers (each reads its own shards)."""
    import torch

    class _Clips(torch.utils.data.IterableDataset):
        def __iter__(self):
            for frames, label, meta in reader:
                yield torch.from_numpy(np.ascontiguousarray(frames)), label, meta

    return _Clips()


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
        link = self.scratch / f"{digest}-{Path(parsed.path).name}"
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

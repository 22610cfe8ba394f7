"""fractalvid's clips in other loaders: a webdataset decode handler, a collate function for
batches, a torch ``IterableDataset``, and for wids an index of pipes and a ``localname``
that reads shards where they are."""

from __future__ import annotations

import functools
import hashlib
import shutil
import sys
import tempfile
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .codec import IMAGES, MEDIA, decode_clip
from .samples import count_samples
from .slots import whole_number
from .sources import shard_entries
from .window import sample_window


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
        if ext in IMAGES:  # a still image: [H, W(, 3)]
            return clip[0]
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

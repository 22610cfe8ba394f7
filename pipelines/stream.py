"""ClipStream: clips made inside the training loop, on the CPU or the GPU; no disk.

The stream takes its clips from the same pipeline as ``generate`` (produce.make_clips), so a
key gives exactly the frames of the offline data set of the same config made with
``codec=raw``. The unit of work is a donor block (8 consecutive clips of a shard, which lend
each other backgrounds), dealt to (rank, DataLoader worker) slots.
"""

from __future__ import annotations

import os
import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from fractalvid.gen.arrays import array_module
from fractalvid.pipelines.clips import donor_blocks
from fractalvid.pipelines.config import MAX_CLIPS, Config, build_config
from fractalvid.pipelines.plan import SPLITS, ClipSpec, clip_specs, plan_shards
from fractalvid.pipelines.produce import make_clips
from fractalvid.shards.reader import _Counters, _worker, _worker_info, sample_window


def epoch_blocks(cfg: Config, split: str, epoch: int = 0) -> list[list[ClipSpec]]:
    """The donor blocks of ``split`` in plan order. Epoch 0 is the planned clips; epoch e > 0
    (an infinite stream) has as many fresh ones, keyed past every planned key: the clip at
    planned position p gets index clips + 2 ((e - 1) n + p) (+1 for val, n the split's size),
    the same class, and instance e (train_per_class + val_per_class) + its planned instance."""
    blocks = [b for s in plan_shards(cfg) if s.split == split
              for b in donor_blocks(clip_specs(cfg, s))]
    if epoch == 0:
        return blocks
    total = cfg.train_clips + cfg.val_clips
    size = cfg.train_clips if split == "train" else cfg.val_clips
    first = 0 if split == "train" else cfg.train_clips
    per_class = cfg.train_per_class + cfg.val_per_class
    last = total + 2 * (epoch * size) + 1
    if last >= MAX_CLIPS:
        raise ValueError(f"epoch {epoch}: fresh clips would pass the {MAX_CLIPS:,} keys of the "
                         "9-digit key space")

    def fresh(s: ClipSpec) -> ClipSpec:
        at = (epoch - 1) * size + s.index - first
        return replace(s, index=total + 2 * at + (split == "val"),
                       instance=epoch * per_class + s.instance)

    return [[fresh(s) for s in block] for block in blocks]


class ClipStream:
    """Iterate ``(frames, label, meta)`` made on the fly, like ``ClipReader`` over the offline
    data set of ``config`` (a Config, a preset name or a dict of keys), without encoding,
    disk or decoding.

    frames: [frames, H, W] uint8, or [frames, H, W, 3] with colour: numpy on the CPU; on the
    GPU a torch CUDA tensor (handed over by DLPack, no copy) where torch is installed, else a
    cupy array. label: the class id (None when unlabeled). meta: the clip's record as in
    KEY.json (``key`` is its key in the offline set), without the quality figures and sizes.

    - Same clips as offline: for a key, the frames equal the ``codec=raw`` set's.
    - Epochs: each pass is the next epoch (``set_epoch`` overrides, in DataLoader workers too);
      with ``shuffle`` the blocks' order and windows change with (seed, epoch).
    - ``infinite``: epoch 0 is the planned clips, every later epoch as many fresh instances of
      the same classes (``epoch_blocks``), so no epoch repeats a clip.
    - Ranks (RANK, WORLD_SIZE) and DataLoader workers get disjoint blocks; with ``even`` each
      rank yields the same number of clips (a few are dropped).
    - CPU: each process renders its own clips with ``threads`` numba threads (in a DataLoader
      worker 1 by default, one worker a core; elsewhere numba's setting stands).
    - GPU: ``batch`` clips per render call, rendered and composed on the device, ``prefetch``
      batches ahead on a thread and CUDA stream of their own. The batch bounds the device
      memory taken (``sizing.gpu_worker_bytes(config, batch)`` estimates it).
    """

    def __init__(
        self,
        config: Config | str | dict[str, Any] = "tiny",
        split: str = "train",
        backend: str = "cpu",
        infinite: bool = False,
        frames: int | None = None,
        stride: int = 1,
        shuffle: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        even: bool = True,
        batch: int | None = None,
        threads: int | None = None,
        prefetch: int = 1,
    ) -> None:
        self.cfg = _as_config(config)
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {', '.join(SPLITS)}")
        if frames is not None and frames < 1:
            raise ValueError(f"frames={frames}: must be at least 1 (or None for whole clips)")
        if stride < 1 or (threads is not None and threads < 1) or prefetch < 0:
            raise ValueError("stride and threads must be at least 1, prefetch at least 0")
        from fractalvid.gen.generators import renderer_for

        # names what is missing (or a CPU-only generator on the GPU), before any work
        self.renderer = renderer_for(self.cfg.generator_spec, backend)
        self.backend = self.renderer.name
        self.split, self.infinite, self.frames, self.stride = split, infinite, frames, stride
        self.shuffle, self.even, self.threads, self.prefetch = shuffle, even, threads, prefetch
        self.batch = batch or (8 if self.backend == "cpu" else 128)
        self.rank = int(os.environ.get("RANK", 0)) if rank is None else rank
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} of world_size {self.world_size}: need "
                             "0 <= rank < world_size")
        if not epoch_blocks(self.cfg, split):
            raise ValueError(f"the config plans no {split} clips")
        self._counters = _Counters()

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch``, in this process and in DataLoader workers."""
        self._counters.set_epoch(epoch)

    def __len__(self) -> int:
        """Clips one pass yields on this rank (all its workers together)."""
        return self._rank_limit(epoch_blocks(self.cfg, self.split))

    def _rank_limit(self, blocks: list[list[ClipSpec]]) -> int:
        counts = [0] * self.world_size
        for i, block in enumerate(blocks):
            counts[i % self.world_size] += len(block)
        return min(counts) if self.even else counts[self.rank]

    def my_blocks(self, epoch: int) -> list[list[ClipSpec]]:
        """The blocks this (rank, worker) makes in ``epoch``, in order, cut so that the
        rank's clips (its workers' together) number ``len(self)``."""
        blocks = epoch_blocks(self.cfg, self.split, epoch if self.infinite else 0)
        if self.shuffle:
            random.Random(f"{self.cfg.seed}:stream:{epoch}").shuffle(blocks)
        limit = self._rank_limit(blocks)
        mine = blocks[self.rank :: self.world_size]
        worker, workers = _worker()
        kept, at = [], 0
        for i, block in enumerate(mine):
            block = block[: max(0, limit - at)]
            at += len(mine[i])
            if block and i % workers == worker:
                kept.append(block)
        return kept

    def _clips(self, blocks: list[list[ClipSpec]]) -> Iterator[Any]:
        host = self.backend == "cpu"
        return make_clips(self.cfg, blocks, self.renderer, self.batch, host=host, figures=False)

    def __iter__(self) -> Iterator[tuple[Any, int | None, dict]]:
        epoch = self._counters.next_epoch()
        if self.backend == "cpu" and (_worker_info() is not None or self.threads):
            import numba

            threads = self.threads or 1  # a DataLoader worker: one core's worth
            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        clips = self._clips(self.my_blocks(epoch))
        if self.backend == "gpu" and self.prefetch:
            clips = _ahead(clips, self.prefetch * self.batch)
        for made in clips:
            rng = random.Random(f"{self.cfg.seed}:{epoch}:{made.spec.key}") if self.shuffle \
                else None
            frames = made.frames
            if self.frames:
                idx = sample_window(frames.shape[0], self.frames, self.stride, rng)
                frames = frames[array_module(frames).asarray(idx)]
            yield _hand_over(frames), made.spec.class_id, made.record


def _as_config(config: Config | str | dict[str, Any]) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, str):
        return build_config(config)
    values = dict(config)
    return build_config(values.pop("preset", None) or "tiny", base=values)


def _ahead(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """``items`` made on a thread of their own (on a CUDA stream of its own), ``depth`` ahead
    of the consumer, so rendering the next batch overlaps the training step."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    done = object()
    stop = threading.Event()

    def produce() -> None:
        import cupy

        try:
            with cupy.cuda.Stream(non_blocking=True) as s:
                for item in items:
                    s.synchronize()  # the clip is whole before another stream reads it
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)
            return
        q.put(done)

    thread = threading.Thread(target=produce, name="fractalvid-stream-ahead", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _hand_over(frames: Any) -> Any:
    """numpy stays numpy; a cupy array becomes a torch CUDA tensor by DLPack (no copy) where
    torch is installed, else stays cupy."""
    if isinstance(frames, np.ndarray):
        return frames
    try:
        import torch
    except ImportError:
        return frames
    return torch.from_dlpack(frames)

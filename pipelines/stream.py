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

from ..gen.arrays import array_module
from ..shards.slots import (
    EpochCounters,
    rank_and_world,
    whole_number,
    worker_info,
    worker_slot,
)
from ..shards.window import sample_window
from .clips import donor_blocks
from .config import MAX_CLIPS, Config, as_config
from .plan import SPLITS, ClipSpec, clip_specs, plan_shards
from .produce import make_clips


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
    - Ranks (RANK, WORLD_SIZE) and DataLoader workers get disjoint clips: each rank a
      contiguous run of the epoch's clips (in block order, shuffled with ``shuffle``), its
      workers parts of that run. With ``even`` (the default) every rank yields the same
      number, clips // world_size, every epoch: at most world_size - 1 clips an epoch are
      dropped, as torch's DistributedSampler(drop_last=True) does; ``even=False`` gives the
      last rank those too. ``len()`` is exact. A block cut by a run's edge is rendered whole
      (its clips lend each other backgrounds) by each side, which yields only its own clips.
    - CPU: each process renders its own clips with ``threads`` numba threads (in a DataLoader
      worker 1 by default, one worker a core; elsewhere numba's setting stands).
    - ``curriculum=N``: the compose operations ramp up over the first N epochs, as the
      reference's training-time curriculum does: the clip at position i of an epoch's n clips
      gets strength ``compose_strength * min(1, (epoch + i / n) / N)`` (rounded to 4
      places, recorded in its meta as ``compose_strength``), and equals the offline clip made
      with that strength. From epoch N on the clips are the offline set's exactly.
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
        curriculum: int = 0,
    ) -> None:
        self.cfg = as_config(config)
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {', '.join(SPLITS)}")
        for name, value, least in (("frames", frames, 1), ("stride", stride, 1),
                                   ("batch", batch, 1), ("threads", threads, 1),
                                   ("prefetch", prefetch, 0), ("curriculum", curriculum, 0)):
            whole_number(name, value, least, none_ok=name in ("frames", "batch", "threads"))
        from ..gen.generators import renderer_for

        # names what is missing (or a CPU-only generator on the GPU), before any work
        self.renderer = renderer_for(self.cfg.generator_spec, backend)
        self.backend = self.renderer.name
        self.split, self.infinite, self.frames, self.stride = split, infinite, frames, stride
        self.shuffle, self.even, self.threads, self.prefetch = shuffle, even, threads, prefetch
        self.curriculum = curriculum
        self._at, self._resume = [0, 0], None
        self._ordered: tuple[int, list[list[ClipSpec]]] | None = None  # the last epoch's order
        self.batch = batch or (8 if self.backend == "cpu" else 128)
        self.rank, self.world_size = rank_and_world(rank, world_size)
        self._total = sum(len(b) for b in epoch_blocks(self.cfg, split))
        if not self._total:
            raise ValueError(f"the config plans no {split} clips")
        if self._total < self.world_size:
            raise ValueError(f"{self._total} {split} clips cannot be split over "
                             f"{self.world_size} ranks")
        self._shards = {s.key: sh.name for sh in plan_shards(self.cfg) if sh.split == split
                        for s in clip_specs(self.cfg, sh)}
        self._counters = EpochCounters()

    def __getstate__(self) -> dict[str, Any]:
        # a DataLoader worker makes its own epoch order: do not ship this process's
        return {**self.__dict__, "_ordered": None}

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch``, in this process and in DataLoader workers."""
        self._counters.set_epoch(epoch)

    def _span(self) -> tuple[int, int]:
        """This rank's run of an epoch's clips: positions lo..hi-1 in block order."""
        per = self._total // self.world_size
        lo = self.rank * per
        last = not self.even and self.rank == self.world_size - 1
        return lo, self._total if last else lo + per

    def __len__(self) -> int:
        """Clips one pass yields on this rank (all its workers together); the same every
        epoch."""
        lo, hi = self._span()
        return hi - lo

    def _order(self, epoch: int) -> list[list[ClipSpec]]:
        """The donor blocks of ``epoch`` in the order the epoch deals them (made once an
        epoch: the plan and the curriculum both ask; callers only read it)."""
        if self._ordered is not None and self._ordered[0] == epoch:
            return self._ordered[1]
        blocks = epoch_blocks(self.cfg, self.split, epoch if self.infinite else 0)
        if self.shuffle:
            random.Random(f"{self.cfg.seed}:stream:{epoch}").shuffle(blocks)
        self._ordered = (epoch, blocks)
        return blocks

    def strengths(self, epoch: int) -> dict[str, float]:
        """{key: compose strength} of the clips of ``epoch`` still on the curriculum's ramp
        (the others have the config's ``compose_strength``)."""
        full = self.cfg.compose_strength
        if epoch >= self.curriculum:
            return {}
        specs = [s for block in self._order(epoch) for s in block]
        n = self.curriculum * len(specs)
        return {s.key: round(full * (epoch * len(specs) + i) / n, 4)
                for i, s in enumerate(specs)}

    def my_blocks(self, epoch: int) -> list[tuple[list[ClipSpec], list[ClipSpec]]]:
        """What this (rank, worker) makes in ``epoch``, in order: (a whole donor block to
        render, the clips of it to yield)."""
        blocks = self._order(epoch)
        lo, hi = self._span()
        worker, workers = worker_slot()
        lo, hi = lo + (hi - lo) * worker // workers, lo + (hi - lo) * (worker + 1) // workers
        plan, at = [], 0
        for block in blocks:
            if at < hi and at + len(block) > lo:
                plan.append((block, block[max(lo - at, 0) : hi - at]))
            at += len(block)
        return plan

    def _clips(self, plan: list[tuple[list[ClipSpec], list[ClipSpec]]], epoch: int,
               ahead: int = 0) -> Iterator[Any]:
        host = self.backend == "cpu"
        wanted = {s.key for _, keep in plan for s in keep}
        ramp, full = self.strengths(epoch), self.cfg.compose_strength
        made = make_clips(self.cfg, [block for block, _ in plan], self.renderer, self.batch,
                          shard=self._shards, host=host, figures=False,
                          strength=(lambda s: ramp.get(s.key, full)) if ramp else None,
                          ahead=ahead)
        return (m for m in made if m.spec.key in wanted)

    def state_dict(self) -> dict[str, int]:
        """Where this process's pass stands: {"epoch", "yielded"}. torchdata's
        StatefulDataLoader asks each worker's copy."""
        epoch, yielded = self._at
        return {"epoch": epoch, "yielded": yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Make the next pass the rest of the pass ``state`` was taken in: the same epoch,
        from the clip after the last one yielded (the clips before it are not made again)."""
        whole_number("epoch", state.get("epoch"), 0)
        whole_number("yielded", state.get("yielded"), 0)
        self._resume = (state["epoch"], state["yielded"])

    def __iter__(self) -> Iterator[tuple[Any, int | None, dict]]:
        skip = 0
        if self._resume is not None:
            (epoch, skip), self._resume = self._resume, None
            self._counters.set_epoch(epoch)
        epoch = self._counters.next_epoch()
        self._at = [epoch, skip]
        if self.backend == "cpu":
            _refuse_a_forked_openmp()
        if self.backend == "cpu" and (worker_info() is not None or self.threads):
            import numba

            threads = self.threads or 1  # a DataLoader worker: one core's worth
            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        yield from self._yield(epoch, skip, _chunk_threads() if self.backend == "cpu" else 0)

    def _yield(self, epoch: int, skip: int, ahead: int
               ) -> Iterator[tuple[Any, int | None, dict]]:
        plan = self.my_blocks(epoch)
        if skip:  # the clips yielded before the state was taken are not made again
            done = {s.key for s in [s for _, keep in plan for s in keep][:skip]}
            plan = [(block, kept) for block, keep in plan
                    if (kept := [s for s in keep if s.key not in done])]
        clips = self._clips(plan, epoch, ahead)
        if self.backend == "gpu" and self.prefetch:
            clips = _ahead(clips, self.prefetch * self.batch)
        for made in clips:
            rng = random.Random(f"{self.cfg.seed}:{epoch}:{made.spec.key}") if self.shuffle \
                else None
            frames = made.frames
            if self.cfg.still:  # a still image: [H, W(, 3)], as the reader gives it
                frames = frames[0]
            elif self.frames:
                idx = sample_window(frames.shape[0], self.frames, self.stride, rng)
                frames = frames[array_module(frames).asarray(idx)]
            self._at[1] += 1
            yield _hand_over(frames), made.spec.class_id, made.record


def _chunk_threads() -> int:
    """With two or more numba threads here, the numba threads of each of the two threads that
    make chunks side by side (produce.make_clips' ``ahead``): half each; 0 with one, or under
    numba's workqueue layer, which two threads may not enter at once."""
    import numba

    n = numba.get_num_threads()
    if n < 2:
        return 0
    from ..gen.warp import warp_frames  # any parallel kernel: numba picks its layer then

    warp_frames(np.zeros((1, 1, 1), np.float32), np.eye(3)[None], (1, 1))
    return n // 2 if numba.threading_layer() in ("omp", "tbb") else 0


_rendered_in: list[int] = []  # the process ids that have rendered with numba's threads


def _refuse_a_forked_openmp() -> None:
    """RuntimeError, in one line, in a DataLoader worker forked from a process that had run
    numba's GNU OpenMP threads: OpenMP cannot be used in such a child (numba would kill it
    at the first render). A fresh process (forkserver, spawn) has none to inherit."""
    pid = os.getpid()
    if worker_info() is not None and pid not in _rendered_in:
        import numba

        try:
            layer = numba.threading_layer()  # set only once threads have run in this memory
        except ValueError:
            layer = None
        if layer == "omp":
            raise RuntimeError(
                "this DataLoader worker was forked from a process that had rendered with "
                "numba's OpenMP threads, which a forked child cannot use: pass "
                "multiprocessing_context='forkserver' (or 'spawn') to the DataLoader, or set "
                "NUMBA_THREADING_LAYER=workqueue before the first render")
    if pid not in _rendered_in:
        _rendered_in.append(pid)


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

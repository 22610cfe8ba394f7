"""What readers and streams share about where they run: the rank and world size, the torch
DataLoader worker they are in, and epoch and skip counters that every worker's copy of a
reader sees (shared memory)."""

from __future__ import annotations

import os
import sys

import numpy as np


def whole_number(name: str, value: object, least: int, none_ok: bool = False) -> None:
    """ValueError naming ``name`` unless ``value`` is a whole number >= ``least`` (or None,
    with ``none_ok``); numpy integers count, bools and floats do not."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name}={value!r}: expected a whole number of at least {least}"
                         + (" (or None)" if none_ok else ""))


def whole_number_in(var: str, text: str) -> int:
    """The whole number an environment variable ``var`` holds as ``text``; ValueError naming
    the variable and its text otherwise."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{var}={text!r} is not a whole number") from None


def rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world_size): the arguments, else the RANK and WORLD_SIZE environment variables
    (torchrun sets them), else (0, 1); ValueError, naming the variable, for one that is not a
    whole number or a rank outside 0..world_size-1."""
    def env(var: str, default: int) -> int:
        text = os.environ.get(var, "").strip()
        return whole_number_in(var, text) if text else default

    rank = env("RANK", 0) if rank is None else rank
    world_size = env("WORLD_SIZE", 1) if world_size is None else world_size
    whole_number("world_size", world_size, 1)
    whole_number("rank", rank, 0)
    if rank >= world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    return int(rank), int(world_size)


def worker_info():
    """torch's DataLoader worker info in a worker, else None; torch is only consulted when
    the caller has already imported it."""
    torch = sys.modules.get("torch")
    return torch.utils.data.get_worker_info() if torch is not None else None


def worker_slot() -> tuple[int, int]:
    """(worker id, worker count) of a torch DataLoader worker, else (0, 1)."""
    info = worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


class EpochCounters:
    """Per-process counters in shared memory, one slot per DataLoader worker (slot 0: the
    main process): the epoch each slot starts next, and the clips each slot skipped.

    DataLoader workers run on copies of the reader; with these counters in shared memory, an
    epoch that begins in a worker (persistent or forked anew each epoch) advances the count
    the next one sees, ``set_epoch`` in the main process reaches the workers, and the main
    process can sum what they skipped."""

    SLOTS = 1024

    def __init__(self, values: list[int] | None = None):
        import multiprocessing

        self.array = multiprocessing.RawArray("q", 2 * self.SLOTS)
        if values:
            self.array[:] = values

    @staticmethod
    def slot() -> int:
        info = worker_info()
        return (info.id + 1) % EpochCounters.SLOTS if info is not None else 0

    def next_epoch(self) -> int:
        slot = self.slot()
        epoch = self.array[slot]
        self.array[slot] = epoch + 1
        return epoch

    def set_epoch(self, epoch: int) -> None:
        for slot in range(self.SLOTS):
            self.array[slot] = epoch

    def skip(self) -> None:
        self.array[self.SLOTS + self.slot()] += 1

    def skipped(self) -> int:
        return sum(self.array[self.SLOTS :])

    def __reduce__(self):
        from multiprocessing.context import get_spawning_popen

        if get_spawning_popen() is not None:  # a worker being spawned shares the memory
            return _shared_counters, (self.array,)
        return EpochCounters, (list(self.array),)  # a plain copy (deepcopy, pickle to disk)


def _shared_counters(array) -> EpochCounters:
    counters = EpochCounters.__new__(EpochCounters)
    counters.array = array
    return counters

"""Keyed random streams: every draw comes from (dataset seed, purpose, id).

A stream never depends on how work is split across processes, so any shard or clip can be
regenerated alone and equals the one from a full run.
"""

from __future__ import annotations

import zlib

import numpy as np

# Purposes are named, not numbered, so adding one never shifts the others' streams.
_PURPOSES = (
    "class",
    "instance",
    "unlabeled",
    "render",
    "compose",
    "background",
)


def _purpose_code(purpose: str) -> int:
    if purpose not in _PURPOSES:
        raise ValueError(f"unknown random purpose {purpose!r}; known: {', '.join(_PURPOSES)}")
    return zlib.crc32(purpose.encode())


def stream(seed: int, purpose: str, key: int, attempt: int = 0) -> np.random.Generator:
    """A Philox generator keyed by (seed, purpose, key, attempt).

    ``attempt`` numbers deterministic redraws (e.g. rejection sampling of degenerate classes).
    """
    entropy = [int(seed), _purpose_code(purpose), int(key), int(attempt)]
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


def seed64(seed: int, purpose: str, key: int, attempt: int = 0) -> int:
    """One 64-bit seed for a kernel's counter-based RNG, keyed like :func:`stream`."""
    ss = np.random.SeedSequence([int(seed), _purpose_code(purpose), int(key), int(attempt)])
    return int(ss.generate_state(1, dtype=np.uint64)[0])

"""Keyed random streams: every draw comes from (dataset seed, purpose, id).

A stream never depends on how work is split across processes, so any shard or clip can be
regenerated alone and equals the one from a full run.

The key words are hashed as numpy's ``SeedSequence`` hashes them (tests compare the two), in
numba: numpy's own takes most of the cost of a still's few streams.
"""

from __future__ import annotations

import zlib

import numba as nb
import numpy as np
from numpy.random.bit_generator import ISeedSequence

# Purposes are named, not numbered, so adding one never shifts the others' streams.
_PURPOSES = (
    "class",
    "instance",
    "unlabeled",
    "render",
    "compose",
    "background",
)
_CODES = {p: zlib.crc32(p.encode()) for p in _PURPOSES}


def _purpose_code(purpose: str) -> int:
    code = _CODES.get(purpose)
    if code is None:
        raise ValueError(f"unknown random purpose {purpose!r}; known: {', '.join(_PURPOSES)}")
    return code


def _words(*ints: int) -> np.ndarray:
    """[K] uint32: each non-negative int as its 32-bit words, low word first (at least
    one), one after another: what SeedSequence makes of a list of ints."""
    words = []
    for x in ints:
        x = int(x)
        if x < 0:
            raise ValueError(f"a random key must not be negative, got {x}")
        words.append(x & 0xFFFFFFFF)
        while x := x >> 32:
            words.append(x & 0xFFFFFFFF)
    return np.array(words, np.uint32)


# SeedSequence's constants (its pool holds four words)
_INIT_A, _MULT_A = np.uint32(0x43B0D7E5), np.uint32(0x931E8875)
_INIT_B, _MULT_B = np.uint32(0x8B51F9DD), np.uint32(0x58F38DED)
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)


@nb.njit(cache=True, nogil=True, inline="always")
def _hashmix(v, h, mult):  # pragma: no cover (numba)
    # v hashed with the running constant h, which moves on by mult; every product cast back
    # to 32 bits: numba computes uint32 arithmetic in 64
    v = np.uint32(v ^ h)
    h = np.uint32(h * mult)
    v = np.uint32(v * h)
    return np.uint32(v ^ (v >> np.uint32(16))), h


@nb.njit(cache=True, nogil=True, inline="always")
def _mix(x, y):  # pragma: no cover (numba)
    r = np.uint32(np.uint32(_MIX_L * x) - np.uint32(_MIX_R * y))
    return np.uint32(r ^ (r >> np.uint32(16)))


@nb.njit(cache=True, nogil=True)
def _state(words, n):  # pragma: no cover (numba)
    # words [K] uint32 -> [n] uint32: SeedSequence(words).generate_state(n, np.uint32)
    pool = np.zeros(4, np.uint32)
    h = _INIT_A
    for i in range(4):
        pool[i], h = _hashmix(words[i] if i < words.shape[0] else np.uint32(0), h, _MULT_A)
    for s in range(4):
        for d in range(4):
            if s != d:
                v, h = _hashmix(pool[s], h, _MULT_A)
                pool[d] = _mix(pool[d], v)
    for s in range(4, words.shape[0]):
        for d in range(4):
            v, h = _hashmix(words[s], h, _MULT_A)
            pool[d] = _mix(pool[d], v)
    out = np.empty(n, np.uint32)
    h = _INIT_B
    for i in range(n):
        out[i], h = _hashmix(pool[i % 4], h, _MULT_B)
    return out


class _Keyed(ISeedSequence):
    """The seed a bit generator takes: SeedSequence's state of the key words."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)):
            raise ValueError(f"only uint32 and uint64 states, not {dtype}")
        state = _state(self.words, n_words * (dtype.itemsize // 4))
        return state.view(np.uint64) if dtype == np.uint64 else state


def stream(seed: int, purpose: str, key: int, attempt: int = 0) -> np.random.Generator:
    """A Philox generator keyed by (seed, purpose, key, attempt): the one numpy makes from
    ``SeedSequence([seed, purpose code, key, attempt])``.

    ``attempt`` numbers deterministic redraws (e.g. rejection sampling of degenerate classes).
    """
    words = _words(seed, _purpose_code(purpose), key, attempt)
    return np.random.Generator(np.random.Philox(_Keyed(words)))


def seed64(seed: int, purpose: str, key: int, attempt: int = 0) -> int:
    """One 64-bit seed for a kernel's counter-based RNG, keyed like :func:`stream`."""
    words = _words(seed, _purpose_code(purpose), key, attempt)
    return int(_state(words, 2).view(np.uint64)[0])

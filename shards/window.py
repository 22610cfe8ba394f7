"""Which frames of a clip a reader yields: a window of N frames, S apart."""

from __future__ import annotations

import random

import numpy as np


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

"""Tone mapping of count histograms to 8-bit frames."""

from __future__ import annotations

import numpy as np


def tone_map(counts: np.ndarray) -> np.ndarray:
    """``log(1 + count)`` scaled by the clip's maximum: [T, H, W] int32 -> [T, H, W] uint8.

    One scale for the whole clip, so brightness does not flicker from frame to frame.
    """
    logc = np.log1p(counts.astype(np.float32))
    peak = float(logc.max())
    if peak <= 0.0:
        return np.zeros(counts.shape, np.uint8)
    return np.rint(logc * np.float32(255.0 / peak)).astype(np.uint8)

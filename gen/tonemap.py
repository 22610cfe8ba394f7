"""Tone mapping of count histograms to 8-bit frames."""

from __future__ import annotations

import numpy as np


def tone_map(counts, xp=np):
    """``log(1 + count)`` scaled by the clip's maximum: [T, H, W] int32 -> [T, H, W] uint8,
    on the array module ``xp`` (numpy, or cupy on the GPU path).

    One scale for the whole clip, so brightness does not flicker from frame to frame.
    """
    logc = xp.log1p(counts.astype(xp.float32))
    peak = float(logc.max())
    if peak <= 0.0:
        return xp.zeros(counts.shape, xp.uint8)
    return xp.rint(logc * np.float32(255.0 / peak)).astype(xp.uint8)

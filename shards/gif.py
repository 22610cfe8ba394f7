"""Animated GIFs of clips, with no imaging library: for ``fractalvid show --gif`` and the
data set's animated preview.

Gray frames keep their 256 levels; RGB frames are quantized to 3-3-2 bits. The image data is
LZW-coded without compression (a clear code every few hundred literal codes keeps every code
9 bits wide), which every decoder reads and numpy packs in one pass: larger files than a
compressing encoder's, for a preview of a few clips that is no matter.
"""

from __future__ import annotations

import numpy as np

_CLEAR, _END = 256, 257
_RUN = 250  # literal codes between clear codes: the code table stays below 512 entries


def _palette(rgb: bool) -> bytes:
    if not rgb:
        return np.repeat(np.arange(256, dtype=np.uint8), 3).tobytes()
    i = np.arange(256)
    r, g, b = (i >> 5) & 7, (i >> 2) & 7, i & 3
    return np.stack([r * 255 // 7, g * 255 // 7, b * 255 // 3], axis=1).astype(np.uint8).tobytes()


def _indices(frame: np.ndarray) -> np.ndarray:
    """[H, W] palette indices of a [H, W] or [H, W, 3] uint8 frame."""
    if frame.ndim == 2:
        return frame
    r, g, b = (frame[..., c].astype(np.uint16) for c in range(3))
    return ((r >> 5) << 5 | (g >> 5) << 2 | (b >> 6)).astype(np.uint8)


def _lzw(indices: np.ndarray) -> bytes:
    """The image data of one frame: the minimum code size, then sub-blocks of <= 255 bytes."""
    pixels = indices.ravel().astype(np.int64)
    slots = np.arange(pixels.size)
    codes = np.full(pixels.size + -(-pixels.size // _RUN) + 1, _CLEAR, np.int64)
    codes[slots + slots // _RUN + 1] = pixels  # a clear code before each run of _RUN
    codes[-1] = _END
    bits = ((codes[:, None] >> np.arange(9)) & 1).astype(np.uint8).ravel()
    data = np.packbits(bits, bitorder="little").tobytes()
    blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                      for i in range(0, len(data), 255))
    return bytes([8]) + blocks + b"\x00"


def encode_gif(frames: np.ndarray, fps: float = 12.0) -> bytes:
    """frames [T, H, W] or [T, H, W, 3] uint8 -> the bytes of a GIF that loops forever, each
    frame shown 1 / ``fps`` seconds (to GIF's 1/100 s)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or not frames.shape[0]:
        raise ValueError(f"frames must be uint8 [T, H, W(, 3)], got {frames.dtype} "
                         f"{frames.shape}")
    t, h, w = frames.shape[:3]
    if max(h, w) > 65535:
        raise ValueError(f"{w}x{h}: larger than a GIF can hold")
    delay = max(2, round(100 / fps))
    out = [b"GIF89a", w.to_bytes(2, "little"), h.to_bytes(2, "little"),
           bytes([0xF7, 0, 0]), _palette(frames.ndim == 4),
           b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]  # loop forever
    for frame in frames:
        out += [b"\x21\xf9\x04\x00", delay.to_bytes(2, "little"), b"\x00\x00",
                b"\x2c\x00\x00\x00\x00", w.to_bytes(2, "little"), h.to_bytes(2, "little"),
                b"\x00", _lzw(_indices(frame))]
    out.append(b"\x3b")
    return b"".join(out)

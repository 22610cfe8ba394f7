"""A minimal, dependency-free PNG writer (8-bit gray or RGB), deterministic bytes."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .checksum import crc32
from .huffman import zlib_huffman


def _chunk(kind: bytes, data: bytes) -> list[bytes]:
    return [struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc32(data, crc32(kind)))]


def encode_png(image: np.ndarray, fast: bool = False) -> bytes:
    """image [H, W] or [H, W, 3] uint8 -> PNG bytes. ``fast``: each row as its difference
    from the row above (PNG filter 2, "Up") and Huffman coding alone (huffman.py: bytes
    that depend on no zlib), for a data set's stills; else no filter and zlib level 6 (the
    previews)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"PNG needs uint8 [H, W] or [H, W, 3], got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    color = 0 if image.ndim == 2 else 2
    rows = np.ascontiguousarray(image).reshape(h, -1)
    if fast:
        filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
        filtered[:, 0] = 2
        filtered[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # modulo 256, as PNG has it
        data = zlib_huffman(filtered.reshape(-1))
    else:
        raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0
        data = zlib.compress(raw, 6)
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", *_chunk(b"IHDR", header), *_chunk(b"IDAT", data),
                     *_chunk(b"IEND", b"")])

"""CRC-32 and Adler-32, as zlib computes them, for the PNG writer's chunks and streams.

zlib-ng's SIMD code (the ``zlib-ng`` package) where it is installed, else the standard
library's zlib: the same values, much faster than a zlib 1.2 build (figures in
docs/images.md).
"""

from __future__ import annotations

try:
    from zlib_ng.zlib_ng import adler32, crc32
except ImportError:  # a platform without its wheel: the same checksums, slower
    from zlib import adler32, crc32

__all__ = ["adler32", "crc32"]

"""Clip codecs: a clip's frames to the bytes of its tar member, and back, in this process.

- ``h264`` / ``h265``: ``KEY.mp4``, encoded by ffmpeg (encode.py), decoded here by PyAV from
  the bytes in memory, one thread by default, giving exactly the frames ffmpeg's own decoder
  gives (tested against it).
- ``raw``: ``KEY.npy.zst``, the uint8 frames as a standard ``.npy`` file in one zstd frame:
  ``zstd -d KEY.npy.zst`` then ``numpy.load`` opens it; lossless, so it holds exactly the
  frames the MP4 path would encode.
"""

from __future__ import annotations

import hashlib
import io
import threading
from functools import lru_cache

import numpy as np

MEMBER = {"h264": "mp4", "h265": "mp4", "raw": "npy.zst"}  # codec -> member extension
MEDIA = ("mp4", "npy.zst")  # member extensions that hold a clip's frames
RAW_LEVEL = 1  # zstd level: the reading speed is the same at 3, for 10% less disk
_local = threading.local()


def media_of(sample: dict) -> str:
    """The extension of the member holding a sample's frames; KeyError('mp4') when none."""
    for ext in MEDIA:
        if ext in sample:
            return ext
    raise KeyError("mp4")


def differs_from_record(data: bytes, recorded: str | None) -> bool:
    """True when a clip's json records a sha256 (``recorded``; older sets record none) and the
    clip's bytes ``data`` hash to another: the clip is damaged."""
    return bool(recorded) and hashlib.sha256(data).hexdigest() != recorded


# -- raw ----------------------------------------------------------------------------------


def encode_raw(frames: np.ndarray) -> bytes:
    """frames [T, H, W] or [T, H, W, 3] uint8 -> a zstd frame holding them as a .npy file.
    The same frames give the same bytes (one thread, a fixed level)."""
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 [T, H, W(, 3)], got {frames.dtype} {frames.shape}")
    import zstandard

    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(
            level=RAW_LEVEL, write_content_size=True, write_checksum=True)  # damage is caught
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(frames), allow_pickle=False)
    return _local.compressor.compress(buf.getvalue())


def _decompress(dctx, data: bytes) -> np.ndarray:
    """One zstd frame -> its content as a writable uint8 array, decompressed into it."""
    import zstandard

    size = zstandard.frame_content_size(data)
    if size < 0:  # not recorded in the frame: let zstd size it (one copy more)
        return np.frombuffer(bytearray(dctx.decompress(data)), np.uint8)
    out = np.empty(size, np.uint8)
    view, at = memoryview(out), 0
    with dctx.stream_reader(data) as reader:
        while at < size and (n := reader.readinto(view[at:])):
            at += n
    if at != size:
        raise zstandard.ZstdError(f"{at} of {size} bytes")
    return out


def decode_raw(data: bytes, color: bool | None = None) -> np.ndarray:
    """``encode_raw`` bytes -> frames [T, H, W] or [T, H, W, 3] uint8 (as stored).

    ``color=True`` repeats gray frames into three channels; ``color=False`` on RGB frames is
    refused (the raw codec keeps what was made; ask for colour)."""
    import zstandard

    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    try:
        raw = _decompress(_local.decompressor, data)
        stream = io.BytesIO(raw[:4096])  # the .npy header
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
            else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(stream)
    except (zstandard.ZstdError, ValueError) as exc:
        raise ValueError(f"cannot decode raw clip: {exc}") from None
    if dtype != np.uint8 or fortran or len(shape) not in (3, 4) or \
            raw.size - stream.tell() != int(np.prod(shape)):
        raise ValueError(f"cannot decode raw clip: {dtype} {shape}, not uint8 [T, H, W(, 3)]")
    frames = raw[stream.tell():].reshape(shape)  # a view of a writable buffer: no copy
    if color and frames.ndim == 3:
        return np.repeat(frames[..., None], 3, axis=3)
    if color is False and frames.ndim == 4:
        raise ValueError("the raw clip is RGB: read it with color=True (or None)")
    return frames


# -- MP4, in process ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _gray_table() -> np.ndarray:
    """[256] uint8: the gray level swscale (ffmpeg's converter) makes of each luma level of
    limited-range yuv420p. Taken from swscale itself, once: looking up the luma plane is
    exact and several times faster than converting each frame."""
    import av

    luma = np.tile(np.arange(256, dtype=np.uint8), (2, 1))
    yuv = np.concatenate([luma, np.full((1, 256), 128, np.uint8)])  # [H * 3/2, W]: Y, U, V
    gray = av.VideoFrame.from_ndarray(yuv, format="yuv420p").to_ndarray(format="gray")
    return np.ascontiguousarray(gray[0])


def _gray(frame) -> np.ndarray:
    """One decoded frame -> [H, W] uint8, as ffmpeg's ``-pix_fmt gray`` gives it."""
    if frame.format.name != "yuv420p" or int(frame.color_range) == 2:  # 2: full (JPEG) range
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
    return _gray_table()[luma[:, : frame.width]]


def decode_mp4(data: bytes, color: bool = False, threads: int = 1) -> np.ndarray:
    """MP4 bytes -> frames [T, H, W] uint8 (gray) or [T, H, W, 3] (``color``), decoded in this
    process from memory with ``threads`` decoder threads (1: no oversubscription when every
    DataLoader worker decodes). Raises ValueError when the bytes do not decode."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = threads
            frames = [f.to_ndarray(format="rgb24") if color else _gray(f)
                      for f in container.decode(stream)]
    except (av.FFmpegError, IndexError, EOFError) as exc:
        raise ValueError(f"cannot decode MP4: {exc or 'no video stream'}") from None
    if not frames:
        raise ValueError("cannot decode MP4: no frames")
    return np.stack(frames)


def decode_clip(ext: str, data: bytes, color: bool | None = None, threads: int = 1
                ) -> np.ndarray:
    """A media member (``ext`` in MEDIA) -> frames [T, H, W] or [T, H, W, 3] uint8."""
    if ext == "npy.zst":
        return decode_raw(data, color)
    if ext == "mp4":
        return decode_mp4(data, color=bool(color), threads=threads)
    raise ValueError(f"no decoder for .{ext} members (known: {', '.join(MEDIA)})")


def encode_clips(clips: list[np.ndarray], fmt, tmpdir: str | None = None) -> list[bytes]:
    """Clips -> their member bytes in ``fmt.codec`` (raw: here; h264/h265: one ffmpeg)."""
    if fmt.codec == "raw":
        return [encode_raw(c) for c in clips]
    from fractalvid.shards.encode import encode_mp4s

    return encode_mp4s(clips, fmt, tmpdir)

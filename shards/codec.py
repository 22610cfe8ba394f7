"""Clip codecs: a clip's frames to the bytes of its tar member, and back, in this process.

- ``h264`` / ``h265``: ``KEY.mp4``, encoded by ffmpeg (encode.py), decoded here by PyAV from
  the bytes in memory, one thread by default, giving exactly the frames ffmpeg's own decoder
  gives (tested against it).
- ``raw``: ``KEY.npy.zst``, the uint8 frames as a standard ``.npy`` file in one zstd frame:
  ``zstd -d KEY.npy.zst`` then ``numpy.load`` opens it; lossless, so it holds exactly the
  frames the MP4 path would encode.
- ``png`` / ``jpeg`` / ``webp`` (stills, ``media=image``): ``KEY.png``, ``KEY.jpg`` or
  ``KEY.webp``, one image (PNG written by png.py, JPEG and WebP by Pillow; all read by
  Pillow), so webdataset's and Hugging Face's own image decoders read them too. A still
  decodes here to one frame, [1, H, W(, 3)], like a raw still; the readers hand it on as
  [H, W(, 3)].
"""

from __future__ import annotations

import hashlib
import io
import threading
from functools import lru_cache

import numpy as np

MEMBER = {"h264": "mp4", "h265": "mp4", "raw": "npy.zst",  # codec -> member extension
          "png": "png", "jpeg": "jpg", "webp": "webp"}
IMAGE_CODECS = ("png", "jpeg", "webp", "raw")
IMAGES = ("png", "jpg", "webp")  # member extensions of a still image file
MEDIA = ("mp4", "npy.zst", *IMAGES)  # member extensions that hold a sample's frames
RAW_LEVEL = 1  # zstd level: the reading speed is the same at 3, for 10% less disk
# What a raw member may unpack to when no json says its shape: far above any clip (a 64-frame
# 1024 px RGB clip is 200 MB), far below a damaged header's claim of terabytes.
RAW_LIMIT = 1 << 31
NPY_HEADER = 4096  # room for a .npy header before the frames
_local = threading.local()


def media_of(sample: dict) -> str:
    """The extension of the member holding a sample's frames; KeyError('mp4') when none."""
    for ext in MEDIA:
        if ext in sample:
            return ext
    raise KeyError("mp4")


def is_still(ext: str, meta: dict | None) -> bool:
    """Whether a sample is a still image: an image member, or a record that says so."""
    return ext in IMAGES or (isinstance(meta, dict) and meta.get("media") == "image")


def recorded_shape(meta: dict | None) -> tuple[int, ...] | None:
    """The frames' shape a clip's json records, (T, H, W) or (T, H, W, 3), or None when it
    records none (or not as whole numbers)."""
    if not isinstance(meta, dict):
        return None
    dims = [meta.get(k) for k in ("frames", "height", "width")]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        return None
    return tuple(dims) + ((3,) if meta.get("channels") == 3 else ())


def check_shape(frames: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """``frames``, or ValueError when they hold no frame or another (T, H, W) than the json
    records (``shape``; None: not checked)."""
    if frames.shape[0] == 0:
        raise ValueError("the clip holds no frames")
    if shape is not None and tuple(frames.shape[:3]) != tuple(shape[:3]):
        raise ValueError(f"its frames are {tuple(frames.shape[:3])}, its json says "
                         f"{tuple(shape[:3])} (T, H, W)")
    return frames


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


def _decompress(dctx, data: bytes, limit: int = RAW_LIMIT) -> np.ndarray:
    """One zstd frame -> its content as a writable uint8 array, decompressed into it; a frame
    that claims more than ``limit`` bytes is refused before anything is allocated."""
    import zstandard

    size = zstandard.frame_content_size(data)
    if size < 0:  # not recorded in the frame: let zstd size it, within the limit
        return np.frombuffer(bytearray(dctx.decompress(data, max_output_size=limit)), np.uint8)
    if size > limit:
        raise zstandard.ZstdError(f"its header claims {size:,} bytes, more than the "
                                  f"{limit:,} its shape allows (damaged)")
    out = np.empty(size, np.uint8)
    view, at = memoryview(out), 0
    with dctx.stream_reader(data) as reader:
        while at < size and (n := reader.readinto(view[at:])):
            at += n
    if at != size:
        raise zstandard.ZstdError(f"{at} of {size} bytes")
    return out


def decode_raw(data: bytes, color: bool | None = None, shape: tuple[int, ...] | None = None
               ) -> np.ndarray:
    """``encode_raw`` bytes -> frames [T, H, W] or [T, H, W, 3] uint8 (as stored).

    ``color=True`` repeats gray frames into three channels; ``color=False`` on RGB frames is
    refused (the raw codec keeps what was made; ask for colour). ``shape``: what the clip's
    json records, which bounds what is unpacked (ValueError beyond it)."""
    import zstandard

    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    limit = RAW_LIMIT if shape is None else int(np.prod(shape, dtype=np.int64)) * 3 + NPY_HEADER
    try:
        raw = _decompress(_local.decompressor, data, limit)
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


# -- stills: png, jpeg, webp ---------------------------------------------------------------


def encode_image(frames: np.ndarray, codec: str, quality: int = 90) -> bytes:
    """One frame [1, H, W] or [1, H, W, 3] uint8 -> PNG, JPEG or WebP bytes. The same frame
    gives the same bytes (fixed settings, no timestamps)."""
    from PIL import Image

    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[0] != 1:
        raise ValueError(f"a still must be uint8 [1, H, W(, 3)], got {frames.dtype} "
                         f"{frames.shape}")
    frame = frames[0]
    if codec == "png":
        from .png import encode_png

        return encode_png(frame, fast=True)
    image = Image.fromarray(np.ascontiguousarray(frame))
    buf = io.BytesIO()
    if codec == "jpeg":
        image.save(buf, "JPEG", quality=quality)
    elif codec == "webp":
        image.save(buf, "WEBP", quality=quality, method=0)
    else:
        raise ValueError(f"no image codec {codec!r} (known: png, jpeg, webp)")
    return buf.getvalue()


def decode_image(data: bytes, color: bool | None = None) -> np.ndarray:
    """PNG, JPEG or WebP bytes -> one frame [1, H, W] or [1, H, W, 3] uint8 (as stored;
    ``color`` True / False converts). ValueError when the bytes do not decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            stored = "L" if image.mode in ("L", "1") else "RGB"
            mode = "RGB" if color else "L" if color is False else stored
            frame = np.asarray(image.convert(mode) if image.mode != mode else image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot decode image: {exc}") from None
    return frame[None]


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


def decode_clip(ext: str, data: bytes, color: bool | None = None, threads: int = 1,
                shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A media member (``ext`` in MEDIA) -> frames [T, H, W] or [T, H, W, 3] uint8.
    ``shape``: what the clip's json records (``recorded_shape``): the frames must have it,
    and a raw member may not unpack to more. ValueError for anything that will not do."""
    try:
        if ext == "npy.zst":
            frames = decode_raw(data, color, shape)
        elif ext == "mp4":
            frames = decode_mp4(data, color=bool(color), threads=threads)
        elif ext in IMAGES:
            frames = decode_image(data, color)
        else:
            raise ValueError(f"no decoder for .{ext} members (known: {', '.join(MEDIA)})")
    except MemoryError:
        raise ValueError("it unpacks to more than this machine's memory (damaged?)") from None
    return check_shape(frames, shape)


def encode_clips(clips: list[np.ndarray], fmt, tmpdir: str | None = None) -> list[bytes]:
    """Clips -> their member bytes in ``fmt.codec`` (raw and stills: here; h264/h265: one
    ffmpeg)."""
    if fmt.codec == "raw":
        return [encode_raw(c) for c in clips]
    if fmt.codec in IMAGE_CODECS:  # raw is done above
        return [encode_image(c, fmt.codec, fmt.quality) for c in clips]
    from .encode import encode_mp4s

    return encode_mp4s(clips, fmt, tmpdir)

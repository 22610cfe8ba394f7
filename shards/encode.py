"""MP4 encoding (and a reference decoder) through the static ffmpeg that imageio-ffmpeg ships.
Readers decode in process (codec.py); ``decode_mp4_ffmpeg`` spawns ffmpeg, as a reference for
tests and the read benchmark.

Identical frames give identical bytes: one encoder thread, bit-exact flags, no metadata, and
x264 kept off its AVX-512 code at widths where that code's bytes hang on the heap (``x264_asm``).

Several clips go through one ffmpeg process (``encode_mp4s``): one input and one output per
clip, each output with an encoder of its own, so a clip's bytes are those of a process of its
own (tested) while the process start is paid once per group. Measured here (2026-11, ffmpeg 9,
19-frame 256 px clips): 43.5 ms of CPU per clip one at a time, 36 ms in groups of 4 and 35 ms in
groups of 8 or more; ffmpeg also runs the group's encoders on parallel threads.

The bundled x265 corrupts its heap on some small oblong frames (24x48 always, 16x48 at times):
ffmpeg then fails and ``encode_mp4s`` raises. Clips are square and at least 16 px, where no
failure was seen (30 runs each of 16 to 64 px, gray and RGB).

Why not PyAV in process (measured with av 18.1.0, 2026-11): it encodes a 256 px clip in 22 ms
against 38 ms here, and can match these bytes (bicubic RGB conversion, explicit timestamps, the
"Lavc libx264" encoder tag), but its libx264 output depends on what the process encoded before:
the same fully initialised frames gave different bytes after another clip. A data set must be a
pure function of its config, so every clip gets a fresh encoder.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CODECS = {"h264": "libx264", "h265": "libx265"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoFormat:
    """How clips are encoded: codec (h264 | h265 | raw, or a still's png | jpeg | webp), CRF,
    x264/x265 preset, frames per second, JPEG / WebP quality."""

    codec: str = "h264"
    crf: int = 23
    preset: str = "veryfast"
    fps: int = 12
    quality: int = 90


ENCODE_GROUP = 8  # clips per ffmpeg process: the CPU saved per clip levels off from 8


def encode_mp4(frames: np.ndarray, fmt: VideoFormat, tmpdir: str | None = None) -> bytes:
    """frames [T, H, W] (gray) or [T, H, W, 3] (RGB) uint8, H and W even -> MP4 bytes (yuv420p)."""
    return encode_mp4s([frames], fmt, tmpdir)[0]


def _check_frames(frames: np.ndarray) -> None:
    shape_ok = frames.ndim == 3 or (frames.ndim == 4 and frames.shape[3] == 3)
    if frames.dtype != np.uint8 or not shape_ok:
        raise ValueError(f"frames must be uint8 [T, H, W(, 3)], got {frames.dtype} {frames.shape}")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise ValueError(f"H.264/H.265 yuv420p needs even width and height, got {w}x{h}")


# Linux's name of each x86 feature (/proc/cpuinfo) and x264's, short of AVX-512. x264 core 165's
# AVX-512 code reads memory it never wrote when a frame's width is not a multiple of 128 px (seen
# at 64, 96, 160, 192, 224, 320 and 448 px, RGB, and gray at 96 and 224; not at 128, 256, 384
# or 512): its bytes then hang on what the heap held before, so on the clips an ffmpeg process
# encoded before, and glibc's MALLOC_PERTURB_ changes them. Its AVX2 code depends on the frames
# alone and is as fast. At multiples of 128 the AVX-512 code stays, since its bytes are stable
# there and are those of every data set made so far.
_X264_FEATURES = (("sse", "MMX2,SSE"), ("sse2", "SSE2"), ("pni", "SSE3"), ("ssse3", "SSSE3"),
                  ("sse4_1", "SSE4.1"), ("sse4_2", "SSE4.2"), ("abm", "LZCNT"), ("avx", "AVX"),
                  ("xop", "XOP"), ("fma4", "FMA4"), ("fma", "FMA3"), ("bmi1", "BMI1"),
                  ("bmi2", "BMI2"), ("avx2", "AVX2"))


def x264_asm_for(flags: set[str]) -> str:
    """x264's ``asm`` value (its comma-separated feature names) for a CPU with the Linux
    feature ``flags``, AVX-512 left out; "" for a CPU with none of them."""
    return ",".join(name for flag, name in _X264_FEATURES if flag in flags)


@lru_cache(maxsize=1)
def x264_asm() -> str:
    """``x264_asm_for`` this machine's CPU, or "" (x264 picks its own code) where the CPU is
    not x86 or /proc/cpuinfo cannot be read."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "i386"):
        return ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            line = next((x for x in f if x.startswith("flags")), "")
    except OSError:
        return ""
    return x264_asm_for(set(line.partition(":")[2].split()))


X264_STABLE_WIDTH = 128  # widths x264's AVX-512 code encodes from the frames alone


def _codec_options(fmt: VideoFormat, width: int) -> list[str]:
    opts = ["-c:v", CODECS[fmt.codec], "-preset", fmt.preset, "-crf", str(fmt.crf)]
    if fmt.codec == "h264":
        asm = x264_asm() if width % X264_STABLE_WIDTH else ""
        return opts + ["-threads", "1"] + (["-x264-params", f"asm={asm}"] if asm else [])
    return opts + ["-x265-params", "pools=none:frame-threads=1:log-level=error"]  # x265's own


def encode_mp4s(clips: list[np.ndarray], fmt: VideoFormat, tmpdir: str | None = None
                ) -> list[bytes]:
    """Clips, each frames [T, H, W] or [T, H, W, 3] uint8 (H, W even) -> their MP4 bytes, in
    one ffmpeg process; each clip's bytes equal ``encode_mp4`` of it alone.

    Each clip's raw frames reach ffmpeg through a pipe of its own, fed by a thread of its own
    (ffmpeg reads its inputs side by side, so one thread feeding them in turn would deadlock).
    MP4 needs a seekable output: ffmpeg writes temporary files in ``tmpdir``, removed after.
    """
    for frames in clips:
        _check_frames(frames)
    if not clips:
        return []
    with tempfile.TemporaryDirectory(prefix="fractalvid-enc-", dir=tmpdir) as work:
        outputs = [os.path.join(work, f"{i}.mp4") for i in range(len(clips))]
        pipes = [os.pipe() for _ in clips]
        reads, writes = [r for r, _ in pipes], [w for _, w in pipes]
        cmd = [ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error"]
        for read, frames in zip(reads, clips):
            h, w = frames.shape[1:3]
            pix = "gray" if frames.ndim == 3 else "rgb24"
            cmd += ["-f", "rawvideo", "-pix_fmt", pix, "-s", f"{w}x{h}", "-r", str(fmt.fps),
                    "-i", f"pipe:{read}"]
        for i, (path, frames) in enumerate(zip(outputs, clips)):
            cmd += ["-map", f"{i}:v", *_codec_options(fmt, frames.shape[2]), "-pix_fmt", "yuv420p",
                    "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
                    "-f", "mp4", path]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, pass_fds=reads)
        except BaseException:
            for fd in writes:
                os.close(fd)
            raise
        finally:
            for fd in reads:
                os.close(fd)  # ffmpeg holds its own copies
        feeders = [threading.Thread(target=_feed, args=(fd, frames), daemon=True)
                   for fd, frames in zip(writes, clips)]
        for feeder in feeders:
            feeder.start()
        _, stderr = proc.communicate()
        for feeder in feeders:
            feeder.join()
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed to encode: {stderr.decode(errors='replace')}")
        result = []
        for path in outputs:
            with open(path, "rb") as fh:
                result.append(fh.read())
        return result


def _feed(fd: int, frames: np.ndarray) -> None:
    """Write a clip's raw frames into the pipe ``fd`` and close it: the end of that input."""
    try:
        with open(fd, "wb", closefd=True) as pipe:
            pipe.write(np.ascontiguousarray(frames).data.cast("B"))
    except BrokenPipeError:
        pass  # ffmpeg stopped early: its exit status and message say why


_SIZE = re.compile(rb"Video: .*?, (\d{2,5})x(\d{2,5})")


def decode_mp4_ffmpeg(data: bytes, color: bool = False, tmpdir: str | None = None
                      ) -> np.ndarray:
    """MP4 bytes -> frames [T, H, W] uint8 (gray) or [T, H, W, 3] (color=True), by a spawned
    ffmpeg. Reading MP4 needs a seekable input, so the bytes go through a temporary file.
    """
    fd, path = tempfile.mkstemp(suffix=".mp4", dir=tmpdir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        pix, ch = ("rgb24", 3) if color else ("gray", 1)
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", path,
               "-f", "rawvideo", "-pix_fmt", pix, "pipe:1"]
        proc = subprocess.run(cmd, capture_output=True, check=False)
    finally:
        os.unlink(path)
    match = _SIZE.search(proc.stderr)
    if proc.returncode != 0 or match is None:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise ValueError(f"cannot decode MP4: {' '.join(tail) or 'no video stream'}")
    w, h = int(match.group(1)), int(match.group(2))
    raw = np.frombuffer(proc.stdout, np.uint8)
    frame = h * w * ch
    if raw.size == 0 or raw.size % frame:
        raise ValueError(f"decoded {raw.size} bytes, not a whole number of {w}x{h} frames")
    shape = (raw.size // frame, h, w) + ((3,) if color else ())
    return raw.reshape(shape)

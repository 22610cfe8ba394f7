"""fractalvid read benchmark: what a trainer pays per clip, for each codec and decoder.

    make bench-read            # or: .venv/bin/python bench/bench_read.py [--clips N]

Makes small paper-settings data sets (compose on) at 128 and 256 px in both codecs, then
times, on one core: decoding a clip's bytes (a spawned ffmpeg per clip, PyAV in process, raw
zstd), a ClipReader pass (tar, json, decode, window) for whole clips and for 8 frames at
stride 2, and a torch DataLoader over ClipReader with 1 and 2 workers (where torch is
installed). Per-core rates count CPU time, the spawned ffmpeg's included. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import tarfile
import tempfile
import time
from pathlib import Path

from machine import machine

from fractalvid.pipelines.config import build_config
from fractalvid.pipelines.finalize import finalize
from fractalvid.pipelines.options import RunOptions
from fractalvid.pipelines.outdir import claim_output
from fractalvid.pipelines.plan import plan_shards
from fractalvid.pipelines.run import run_shards
from fractalvid.shards.codec import MEMBER, decode_mp4, decode_raw
from fractalvid.shards.encode import decode_mp4_ffmpeg
from fractalvid.shards.reader import ClipReader


def make_set(root: Path, px: int, codec: str, clips: int) -> Path:
    out = root / f"{codec}-{px}"
    cfg = build_config("paper", {"resolution": px, "codec": codec, "classes": 8,
                                 "train_per_class": max(1, clips // 8), "val_per_class": 1,
                                 "shard_size": 16})
    claim_output(cfg, out)
    run_shards(cfg, plan_shards(cfg), out, RunOptions("cpu", os.cpu_count() or 1))
    finalize(cfg, out, preview=False)
    return out


def media(out: Path, ext: str) -> list[bytes]:
    found = []
    for path in sorted(out.glob("train-*.tar")):
        with tarfile.open(path) as tar:
            found += [tar.extractfile(m).read() for m in tar if m.name.endswith("." + ext)]
    return found


def cpu_seconds() -> float:
    """This process's CPU time (to the microsecond) plus its finished children's (spawned
    ffmpegs; counted by the kernel in clock ticks)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def per_clip(fn, items, repeats: int = 3) -> float:
    """CPU milliseconds per item of ``fn``, the best of ``repeats`` passes (one warm-up)."""
    fn(items[0])
    best = float("inf")
    for _ in range(repeats):
        start = cpu_seconds()
        for x in items:
            fn(x)
        best = min(best, cpu_seconds() - start)
    return best / len(items) * 1e3


def reader_ms(out: Path, frames: int | None, stride: int = 1, check: bool = True) -> float:
    def one_pass(_):
        for _ in ClipReader(out, frames=frames, stride=stride, check=check):
            pass

    n = sum(1 for _ in ClipReader(out))
    return per_clip(one_pass, [None]) / n


def loader_clips_per_s(out: Path, workers: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    from fractalvid.shards.reader import torch_dataset

    reader = ClipReader(out, frames=8, stride=2, shuffle=True)
    loader = torch.utils.data.DataLoader(torch_dataset(reader), batch_size=None,
                                         num_workers=workers, persistent_workers=True)
    n = sum(1 for _ in loader)  # warm-up: starts the workers
    start = time.perf_counter()
    for _ in range(3):
        for _ in loader:
            pass
    return 3 * n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=48, help="training clips per data set")
    ap.add_argument("--sizes", default="128,256", help="resolutions, comma-separated")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fractalvid-bench-read-") as tmp:
        for px in (int(s) for s in args.sizes.split(",")):
            sets = {codec: make_set(Path(tmp), px, codec, args.clips) for codec in ("h264", "raw")}
            mp4s, raws = media(sets["h264"], "mp4"), media(sets["raw"], MEMBER["raw"])
            size = {c: sum(map(len, m)) / len(m) / 1e6 for c, m in (("h264", mp4s), ("raw", raws))}
            ffmpeg = per_clip(decode_mp4_ffmpeg, mp4s[:16])
            pyav = per_clip(decode_mp4, mp4s)
            zstd = per_clip(decode_raw, raws)
            rows += [(px, "h264", "ffmpeg process per clip", "decode", ffmpeg, size["h264"]),
                     (px, "h264", "PyAV in process", "decode", pyav, size["h264"]),
                     (px, "raw", "zstd in process", "decode", zstd, size["raw"])]
            for codec in ("h264", "raw"):
                decoder = "PyAV" if codec == "h264" else "zstd"
                rows.append((px, codec, f"ClipReader ({decoder})", "whole clip",
                             reader_ms(sets[codec], None), size[codec]))
                rows.append((px, codec, f"ClipReader ({decoder}), check=False", "whole clip",
                             reader_ms(sets[codec], None, check=False), size[codec]))
                rows.append((px, codec, f"ClipReader ({decoder})", "8 frames, stride 2",
                             reader_ms(sets[codec], 8, 2), size[codec]))
                for workers in (1, 2):
                    rate = loader_clips_per_s(sets[codec], workers)
                    if rate is not None:
                        rows.append((px, codec, f"DataLoader, {workers} worker(s)",
                                     "8 frames, stride 2", 1e3 / rate, size[codec]))
            print(f"{px} px: PyAV / ffmpeg process {ffmpeg / pyav:.1f}x, raw / PyAV "
                  f"{pyav / zstd:.1f}x per core (decode); MB per clip: h264 "
                  f"{size['h264']:.3f}, raw {size['raw']:.3f} ({size['raw'] / size['h264']:.1f}x)")
    print()
    print("| px | codec | reader | what | ms per clip | clips/s | MB per clip |")
    print("|---|---|---|---|---|---|---|")
    for px, codec, reader, what, ms, mb in rows:
        per = "wall, whole process" if reader.startswith("DataLoader") else "per core"
        print(f"| {px} | {codec} | {reader} | {what} | {ms:.2f} | {1e3 / ms:.0f} ({per}) | "
              f"{mb:.3f} |")
    print("\nGPU decoding: not measured by this script (see README, Reading speed).")


if __name__ == "__main__":
    main()

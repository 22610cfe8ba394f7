"""fractalvid benchmark: chaos-game throughput and end-to-end clips/s at paper settings.

    make bench                 # or: .venv/bin/python bench/bench.py [--clips N] [--quick]
    make bench ARGS=--all-variations   # also the variations outside the default mix

Prints a table of absolute rates, headed by the CPU model and its vector instruction set
(AVX-512 and AVX2 machines differ 2x here). No ratio against another program: one holds only
when both ran side by side, and the project does not ship the reference generator.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
from machine import machine

from fractalvid.gen.compose import apply_ops, sample_ops
from fractalvid.gen.ifs import class_coefficients, sample_class
from fractalvid.gen.render import CpuRenderer, RenderJob
from fractalvid.gen.rng import stream
from fractalvid.gen.variations import DEFAULT_NONLINEAR, VARIATIONS, variation_id
from fractalvid.pipelines.config import PRESETS_BY_NAME, build_config
from fractalvid.pipelines.options import RunOptions
from fractalvid.pipelines.plan import plan_shards
from fractalvid.pipelines.run import run_shards
from fractalvid.pipelines.sizing import cpu_count
from fractalvid.shards.encode import ENCODE_GROUP, encode_mp4s


def chaos_points_per_s(variation: str, frames: int, threads: int = 1, repeats: int = 3) -> float:
    """Chaos-game steps per second on ``threads`` threads, paper settings, one class: the best
    of ``repeats`` timings (a process's first timing ran up to 30% slow here)."""
    cfg = build_config("paper")
    settings = cfg.render_settings
    rng = np.random.default_rng(0)
    cls = sample_class(rng, variations=(variation,) if variation != "linear" else (),
                       linear_fraction=0.0 if variation != "linear" else 1.0)
    coefs = class_coefficients(cls)
    coefs = np.concatenate([coefs] * (frames // coefs.shape[0] + 1))[:frames]
    job = RenderJob(coefs, variation_id(variation), 1)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        CpuRenderer().render([RenderJob(coefs[:2], job.variation, 1)], settings)  # warm-up
        seconds = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            CpuRenderer().render([job], settings)
            seconds = min(seconds, time.perf_counter() - start)
    finally:
        numba.set_num_threads(before)
    return frames * settings.chains * settings.iterations / seconds


def compose_ms_per_clip(clips: int = 20) -> float:
    """Milliseconds per paper-sized clip (256 px, 19 frames) of the compose stage, 1 thread."""
    settings = build_config("paper").compose_settings
    rng = np.random.default_rng(0)
    frames = (rng.random((19, 256, 256)) ** 4 * 255).astype(np.uint8)
    donors = {"a": frames, "b": frames[::-1].copy()}
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        apply_ops(sample_ops(stream(0, "compose", 0), settings, 19, 256, [("a", 19)]), frames,
                  donors)  # warm-up (compile)
        start = time.perf_counter()
        for i in range(clips):
            ops = sample_ops(stream(0, "compose", i), settings, 19, 256, [("a", 19), ("b", 19)])
            apply_ops(ops, frames, donors)
        return (time.perf_counter() - start) / clips * 1e3
    finally:
        numba.set_num_threads(before)


def encode_ms_per_clip(group: int, clips: int = 16) -> float:
    """Milliseconds per real paper-settings clip (256 px, 18-20 frames) of H.264 encoding on one
    core, ``group`` clips per ffmpeg process (1: a process per clip)."""
    cfg = build_config("paper")
    jobs = []
    for i in range(min(clips, 8)):
        cls = sample_class(np.random.default_rng(i), frames=(18, 20), linear_fraction=1.0)
        jobs.append(RenderJob(class_coefficients(cls), variation_id("linear"), i + 1))
    frames = [r.frames for r in CpuRenderer().render(jobs, cfg.render_settings)]
    frames = (frames * (clips // len(frames) + 1))[:clips]
    with pinned(1):
        start = time.perf_counter()
        for at in range(0, clips, group):
            encode_mp4s(frames[at : at + group], cfg.video_format)
        return (time.perf_counter() - start) / clips * 1e3


@contextmanager
def pinned(cores: int) -> Iterator[None]:
    """This process, and every process it starts meanwhile (workers, ffmpeg), on its first
    ``cores`` allowed cores."""
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:cores])
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def end_to_end(clips: int, workers: int, augment: bool, codec: str = "h264",
               generator: str = "fractal", labels: bool = True) -> dict:
    """Generate ``clips`` clips at paper settings with ``workers`` processes pinned to
    ``workers`` cores (ffmpeg included: children inherit the affinity); time and size. A
    small run first starts the worker processes (and loads the kernels), which the timed run
    then reuses: the rate is the pipeline's, as over a long run, not its start-up."""
    with pinned(workers):
        _end_to_end(2 * workers, workers, augment, codec, generator, labels)
        run = _end_to_end(clips, workers, augment, codec, generator, labels)
    rate = clips / run["seconds"]
    return {"clips_s": rate, "frames_s": rate * 19,  # 19: the mean of 18..20 frames
            "mb_clip": run["mb_clip"], "rss_mb": run["rss_mb"]}


def _end_to_end(clips: int, workers: int, augment: bool, codec: str,
                generator: str = "fractal", labels: bool = True) -> dict:
    shard_size = max(1, clips // (2 * workers))
    cfg = build_config("paper", {
        "classes": clips, "train_per_class": 1, "val_per_class": 0,
        "shard_size": shard_size, "augment": augment, "codec": codec, "generator": generator,
        "labels": labels,
    })
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        summary = run_shards(cfg, plan_shards(cfg), out, RunOptions("cpu", workers))
        size = sum(p.stat().st_size for p in out.glob("*.tar"))
    return {"seconds": summary.seconds, "mb_clip": size / clips / 1e6,
            "rss_mb": summary.peak_rss_mb}


def stream_rate(clips: int, workers: int) -> float | None:
    """Clips/s that ClipStream delivers at paper settings (compose on) through a torch
    DataLoader with ``workers`` workers pinned to as many cores, after a pass that starts them
    (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    from fractalvid import ClipStream
    from fractalvid.shards.reader import torch_dataset

    cfg = build_config("paper", {"classes": clips, "train_per_class": 1, "val_per_class": 1,
                                 "shard_size": 8})
    stream = ClipStream(cfg, infinite=True)
    # spawn: this process ran numba's OpenMP threads, which a fork cannot copy; and a spawned
    # worker takes the cores this process is pinned to when it starts
    with pinned(workers):
        loader = torch.utils.data.DataLoader(torch_dataset(stream), batch_size=None,
                                             num_workers=workers, persistent_workers=True,
                                             multiprocessing_context="spawn")
        sum(1 for _ in loader)  # starts the workers, compiles nothing new (the numba cache)
        start = time.perf_counter()
        n = sum(1 for _ in loader)  # the next epoch: fresh instances
        return n / (time.perf_counter() - start)


def chaos_rows(frames: int, all_variations: bool) -> list[tuple[str, str, str]]:
    rows = []
    linear = chaos_points_per_s("linear", frames)
    rows.append(("chaos game, linear, 1 core", f"{linear / 1e6:.1f} M points/s",
                 "target >= 200 on an AVX2 core"))
    nonlin = []
    for v in DEFAULT_NONLINEAR:
        pts = chaos_points_per_s(v, max(4, frames // 4))
        nonlin.append(pts)
        rows.append((f"chaos game, {v}, 1 core", f"{pts / 1e6:.1f} M points/s", ""))
    # half the classes linear, half one of the variations: time per point averages
    mean_rate = 1.0 / (0.5 / linear + 0.5 * float(np.mean([1.0 / p for p in nonlin])))
    rows.append(("chaos game, paper mix (1/2 linear), 1 core", f"{mean_rate / 1e6:.1f} M points/s",
                 "target >= 150 on an AVX2 core"))
    others = [v for v in VARIATIONS if v != "linear" and v not in DEFAULT_NONLINEAR]
    for v in others if all_variations else []:
        pts = chaos_points_per_s(v, max(4, frames // 4))
        rows.append((f"chaos game, {v}, 1 core", f"{pts / 1e6:.1f} M points/s",
                     "not in the default mix"))
    return rows


def screen_and_frame_ms(clips: int = 16) -> tuple[float, float]:
    """Milliseconds per paper clip, 1 thread: drawing and screening its instance (the 64 px
    quality screen, redraws included), and the render without its chaos game's full pass
    (framing's coarse pass, the box filter, the tone map: a render whose full pass is one
    point a chain)."""
    from dataclasses import replace

    from fractalvid.gen.fractal import draw_instances, render_job
    from fractalvid.pipelines.plan import clip_specs

    def clip_jobs(cfg, specs):
        return [render_job(cfg, s, d) for s, d in zip(specs, draw_instances(cfg, specs))]

    cfg = build_config("paper", {"classes": clips, "train_per_class": 1, "val_per_class": 0,
                                 "shard_size": clips})
    specs = clip_specs(cfg, plan_shards(cfg)[0])
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        clip_jobs(cfg, specs[:1])  # warm-up (compile)
        start = time.perf_counter()
        jobs = clip_jobs(cfg, specs)
        screen = (time.perf_counter() - start) / clips * 1e3
        coarse_only = replace(cfg.render_settings, chains=1, iterations=2, burn_in=1)
        CpuRenderer().render(jobs[:1], coarse_only)
        start = time.perf_counter()
        CpuRenderer().render(jobs, coarse_only)
        frame = (time.perf_counter() - start) / clips * 1e3
    finally:
        numba.set_num_threads(before)
    return screen, frame


def stage_rows() -> list[tuple[str, str, str]]:
    screen, frame = screen_and_frame_ms()
    rows = [("draw and screen an instance, 1 core", f"{screen:.0f} ms per clip",
             "64 px screen of every frame, redraws included"),
            ("render less the full chaos pass, 1 core", f"{frame:.0f} ms per clip",
             "framing (128 px coarse pass), box filter, tone map"),
            ("compose stage alone, 1 core", f"{compose_ms_per_clip():.0f} ms per clip",
             "256 px, 19 frames, paper probabilities")]
    for group in (1, ENCODE_GROUP):
        rows.append((f"H.264 encoding, {group} clip(s) per ffmpeg, 1 core",
                     f"{encode_ms_per_clip(group):.1f} ms per clip",
                     "19 frames, 256 px" + (" (the pipeline's grouping)" if group > 1 else "")))
    return rows


def end_to_end_rows(clips: int, cores: int) -> list[tuple[str, str, str]]:
    rows = []
    for augment, codec in ((False, "h264"), (True, "h264"), (True, "raw")):
        rates = {}
        for workers in sorted({1, cores}):
            r = end_to_end(clips, workers, augment, codec)
            rates[workers] = r["clips_s"]
            rows.append((f"end to end, {codec}, compose {'on' if augment else 'off'}, "
                         f"{workers} core(s)",
                         f"{r['clips_s']:.2f} clips/s, {r['frames_s']:.0f} frames/s",
                         "" if augment else "target >= 11 clips/s on 2 AVX2 cores"))
            rows.append((f"  MB per clip / peak RSS per worker ({workers} core(s))",
                         f"{r['mb_clip']:.3f} MB / {r['rss_mb']:.0f} MB",
                         "RSS target <= 1024"))
        if cores > 1:
            rows.append((f"  scaling, 1 -> {cores} cores (compose {'on' if augment else 'off'})",
                         f"{rates[cores] / rates[1]:.2f}x", f"ideal {cores}x"))
    return rows


def generator_rows(clips: int, cores: int, codecs: tuple[str, ...] = ("h264",)
                   ) -> list[tuple[str, str, str]]:
    """End to end per baseline generator: paper size (256 px, 18-20 frames), compose off, on
    ``cores`` cores; unlabeled (a fresh draw a clip, as the reference's timed loop), so no clip
    also pays for drawing a class of its own, as one clip a class would."""
    from fractalvid.gen.generators import GENERATORS

    rows = []
    for name in (g for g in GENERATORS if g != "fractal"):
        for codec in codecs:
            r = end_to_end(clips, cores, False, codec, name, labels=False)
            rows.append((f"{name}, unlabeled, {codec}, compose off, {cores} core(s)",
                         f"{r['clips_s']:.2f} clips/s, {r['rss_mb']:.0f} MB RSS",
                         "target >= 10x the reference's own, run side by side"))
    return rows


def stream_rows(clips: int, cores: int) -> list[tuple[str, str, str]]:
    rows = []
    for workers in sorted({1, cores}):
        rate = stream_rate(clips, workers)
        rows.append((f"ClipStream, compose on, {workers} DataLoader worker(s)",
                     "-" if rate is None else f"{rate:.2f} clips/s, {rate * 19:.0f} frames/s",
                     "needs torch (make test installs it)" if rate is None else
                     "fresh clips, nothing encoded; target >= the raw row"))
    return rows


IMAGES_SHARD = PRESETS_BY_NAME["images"]["shard_size"]  # images a shard of the preset


def image_offline(images: int, workers: int, codec: str) -> dict:
    """Stills of the images preset (224 px, 100k points, colour, texture, blur half the
    time; 50 a class), made and written in ``codec`` by ``workers`` processes pinned to as
    many cores, after a small run that starts them: images/s and bytes an image. The shards
    are the preset's (1,000 images) where ``images`` gives each worker one, else one shard a
    worker: a shard's fixed costs (its Parquet file, fsyncs, the tar's checksum) weigh on a
    smaller one as they would not on a real set."""
    def run(n: int) -> tuple[float, float]:
        shard = min(IMAGES_SHARD, -(-n // workers))
        cfg = build_config("images", {"classes": max(1, n // 50), "train_per_class": min(n, 50),
                                      "val_per_class": 0, "image_codec": codec,
                                      "shard_size": shard})
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_shards(cfg, plan_shards(cfg), Path(tmp), RunOptions("cpu", workers))
            size = sum(p.stat().st_size for p in Path(tmp).glob("*.tar"))
        return cfg.train_clips / summary.seconds, size / cfg.train_clips, summary.peak_rss_mb

    with pinned(workers):
        run(4 * workers)
        rate, size, rss = run(images)
    return {"rate": rate, "kb": size / 1e3, "rss_mb": rss}


def image_stream(images: int, threads: int) -> float:
    """Images/s that ClipStream makes of the images preset in this one process, its numba
    threads set to ``threads`` (pinned to as many cores), after 50 that warm it up."""
    from fractalvid import ClipStream

    cfg = build_config("images", {"classes": max(1, images // 50) + 1, "train_per_class": 50,
                                  "val_per_class": 0})
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    with pinned(threads):
        it = iter(ClipStream(cfg, split="train", threads=threads))
        for _ in range(50):
            next(it)
        start = time.perf_counter()
        for _ in range(images):
            next(it)
        return images / (time.perf_counter() - start)


def image_rows(images: int, cores: int, whole_shards: bool = True
               ) -> list[tuple[str, str, str]]:
    """Stills at Anderson & Farrell's settings (the images preset), on the fly (``images``
    a run) and offline (``whole_shards``: at least one of the preset's shards a worker)."""
    rows = []
    for threads in sorted({1, cores}):
        rate = image_stream(images, threads)
        rows.append((f"images on the fly (ClipStream), 1 process, {threads} thread(s)",
                     f"{rate:.0f} images/s", "target >= 1,000 (10x their IFSGenerator)"))
    for codec in ("png", "jpeg"):
        for workers in sorted({1, cores}):
            r = image_offline(max(images, workers * IMAGES_SHARD if whole_shards else 0),
                              workers, codec)
            rows.append((f"images offline, {codec}, {workers} core(s)",
                         f"{r['rate']:.0f} images/s, {r['rate'] / workers:.0f} a core",
                         f"{r['kb']:.0f} kB an image, {r['rss_mb']:.0f} MB RSS; "
                         "target >= 500 a core (png)"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40, help="clips per end-to-end run")
    ap.add_argument("--frames", type=int, default=38, help="frames per chaos-game timing")
    ap.add_argument("--quick", action="store_true", help="fewer clips and frames")
    ap.add_argument("--all-variations", action="store_true",
                    help="also time the variations outside the default mix")
    ap.add_argument("--only", choices=["generators", "images"],
                    help="only these rows (generators: the baselines, H.264 and H.265; "
                    "images: stills of the images preset)")
    ap.add_argument("--images", type=int, default=600,
                    help="images per still-image run (offline: at least a shard a worker)")
    args = ap.parse_args(argv)
    if args.quick:
        args.clips, args.frames = 12, 10
    cores = cpu_count()
    print(f"machine: {machine()}; python={sys.version.split()[0]} numba={numba.__version__}")
    print("settings: paper (256x256, 128 chains x 7,500 steps = 0.96 M steps/frame, "
          "18-20 frames, H.264 veryfast CRF 23)\n")
    if args.only == "generators":
        print_table(generator_rows(args.clips, cores, ("h264", "h265")))
        return 0
    if args.quick:
        args.images = 150
    if args.only == "images":
        print_table(image_rows(args.images, cores, not args.quick))
        return 0
    print_table(chaos_rows(args.frames, args.all_variations) + stage_rows()
                + end_to_end_rows(args.clips, cores) + generator_rows(args.clips, cores)
                + stream_rows(args.clips, cores) + image_rows(args.images, cores, not args.quick))
    return 0


def print_table(rows: list[tuple[str, str, str]]) -> None:
    """Print (measure, result, note) rows as an aligned table."""
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<34} note")
    print("-" * (width + 60))
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<34} {note}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

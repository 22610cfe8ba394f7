"""Running shards: in this process or in joblib worker processes, with progress and a log."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fractalvid import __version__
from fractalvid.gen.chaos import compiled_before
from fractalvid.gen.render import get_renderer
from fractalvid.pipelines.config import Config, ConfigError
from fractalvid.pipelines.plan import ShardSpec, estimates
from fractalvid.pipelines.shard import DEFAULT_BATCH, ShardResult, run_shard, shard_done
from fractalvid.shards.atomic import write_atomic

GPU_WORKERS = 8  # processes sharing one GPU, at most (see default_workers)
GPU_BATCH = 128  # clips per GPU launch: 2,432 blocks of 128 threads at 19 frames a clip
GPU_WORKER_BASE = 1 << 30  # bytes a GPU worker holds whatever its batch: CUDA context, pool slack
CPU_WORKER_BASE = 250 << 20  # bytes of RSS a CPU worker holds whatever its batch (measured)
CONFIG_FILE = "config.json"
LOG_FILE = "generate.log"
# Everything fractalvid writes into OUT; --overwrite removes only these.
OWNED = ("*.tar", "*.parquet", "*.stats.json", "index.*.json", "dataset.json", "README.md",
         "preview.png", CONFIG_FILE, ".*.tmp")  # fmt: skip


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def claim_output(cfg: Config, out: Path, overwrite: bool = False) -> None:
    """Make ``out`` hold this config's data set: record the config, or refuse another's.

    Raises ConfigError when ``out`` was made with a different config (unless ``overwrite``,
    which first deletes what fractalvid wrote there).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text()).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            old = None
        if old != cfg.fingerprint():
            if not overwrite:
                raise ConfigError(
                    f"{out} holds a data set made with another config (fingerprint {old}, "
                    f"this one {cfg.fingerprint()}); choose another --out or pass --overwrite"
                )
            for pattern in OWNED:
                for p in out.glob(pattern):
                    p.unlink()
    elif any(out.glob("*.tar")):
        if not overwrite:
            raise ConfigError(f"{out} has tar files but no {CONFIG_FILE}; pass --overwrite")
        for p in out.glob("*.tar"):
            p.unlink()
    record = {"fingerprint": cfg.fingerprint(), "fractalvid_version": __version__,
              "config": cfg.to_dict()}  # fmt: skip
    write_atomic(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


def _worker(cfg: Config, shard: ShardSpec, out: str, backend: str, threads: int, batch: int,
            encoders: int) -> ShardResult:  # fmt: skip
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return run_shard(cfg, shard, Path(out), get_renderer(backend), batch=batch,
                     encoders=encoders)  # fmt: skip


def gpu_worker_bytes(cfg: Config, batch: int) -> int:
    """Device memory one GPU worker may take (an estimate): a base, plus per pixel of a
    batch's frames 4 bytes of counts, 1 for the box filter's chunks and the tone map, and the
    rendered frames (1 byte) of this batch and of the previous one, whose clips are still being
    composed while this one renders (composed clips, colour ones too, go to the host one at a
    time). Measured on the array-module path: 830 MiB at the peak of rendering 128 paper
    clips (5.4 bytes a pixel), against 7 estimated here."""
    pixels = batch * cfg.frames_max * cfg.resolution**2
    return GPU_WORKER_BASE + pixels * 7


def cpu_worker_bytes(cfg: Config, batch: int | None = None) -> int:
    """Peak RSS of one CPU worker (an estimate): a base, plus 4 bytes a pixel of a batch's
    frames (its rendered frames, the counts of a pass, the compose stage's copies). Measured
    with a batch of 8 clips: 0.29 GB at 256 px, 0.41 at 512, 0.90 at 1024, 2.9 at 2048."""
    clips = -(-(batch or DEFAULT_BATCH) // 8) * 8  # whole blocks of background donors
    return CPU_WORKER_BASE + 4 * clips * cfg.frames_max * cfg.resolution**2


def host_memory(proc: Path = Path("/proc"), cgroups: Path = Path("/sys/fs/cgroup")) -> int:
    """Bytes of memory new worker processes may take: what the kernel reports available, or
    less if this process's cgroup or one above it (a SLURM job's --mem, a container) leaves
    less; 0 if unknown. ``proc`` and ``cgroups``: where those file systems are mounted."""
    sizes = []
    try:
        with open(proc / "meminfo") as fh:
            sizes += [int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("MemAvailable:")]
        with open(proc / "self" / "cgroup") as fh:
            lines = [ln.strip().split(":", 2) for ln in fh]
    except (OSError, ValueError, IndexError):
        return max(sizes, default=0)
    for _, controllers, path in lines:
        if controllers == "":  # cgroup v2
            root, pair = cgroups, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            root, pair = cgroups / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        leaf = root / path.lstrip("/")
        for folder in (leaf, *leaf.parents):  # a limit may sit on any level (SLURM: the job)
            if folder == root.parent:
                break
            try:
                limit, used = ((folder / name).read_text().strip() for name in pair)
                if limit != "max" and int(limit) < 1 << 60:  # v1 writes "none" as ~2^63
                    sizes.append(max(0, int(limit) - int(used)))
            except (OSError, ValueError):
                continue
    return min(sizes, default=0)


def gpu_memory() -> int:
    """Bytes of memory of CUDA device 0 (what CuPy reports), or 0 if it cannot say."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceProperties(0)["totalGlobalMem"])
    except Exception:  # no cupy or no device: no bound from memory
        return 0


def default_workers(renderer: str, cfg: Config | None = None, batch: int | None = None) -> int:
    """Worker processes when --workers is not given: one per core on the CPU, or as many as
    90% of the free host memory holds (cpu_worker_bytes), if fewer. On the GPU,
    processes share the device and each drives cores/workers ffmpeg encoders; a worker's own
    thread screens, composes and writes (about 25 ms a clip, next to about 34 ms of encoding),
    so half the cores, up to GPU_WORKERS, keep every core busy; given ``cfg``, no more than
    90% of the device's memory holds (gpu_worker_bytes), and at least one."""
    if renderer != "gpu":
        memory = host_memory() if cfg is not None else 0
        if memory:  # large frames: fewer workers than cores rather than running out
            return max(1, min(cpu_count(), int(0.9 * memory) // cpu_worker_bytes(cfg, batch)))
        return cpu_count()
    workers = min(GPU_WORKERS, cpu_count() // 2)
    memory = gpu_memory() if cfg is not None else 0
    if memory:
        per_worker = gpu_worker_bytes(cfg, batch or default_batch("gpu", cfg))
        workers = min(workers, int(0.9 * memory) // per_worker)
    return max(1, workers)


def memory_warning(cfg: Config, renderer: str, workers: int, batch: int | None) -> str | None:
    """A line saying ``workers`` CPU workers look too many for the free host memory, or None
    (it warns: the estimate is not exact, and the user chose the number)."""
    memory = host_memory()
    need = workers * cpu_worker_bytes(cfg, batch)
    if renderer != "cpu" or not memory or need <= memory:
        return None
    fit = max(1, int(0.9 * memory) // cpu_worker_bytes(cfg, batch))
    return (f"warning: {workers} workers need about {_size(need)} of memory at "
            f"{cfg.resolution} px ({_size(cpu_worker_bytes(cfg, batch))} each), and "
            f"{_size(memory)} is free: pass --workers {fit} or fewer")  # fmt: skip


def disk_warning(cfg: Config, shards: Sequence[ShardSpec], out: Path) -> str | None:
    """A line saying ``out`` looks too small for the shards still to make, or None. The need
    is plan.estimates' (rounded up from measured sizes) for the clips of shards without a
    done marker; it warns rather than refuses, as the estimate is not exact."""
    pending = sum(s.count for s in shards if not shard_done(out, s, cfg, check_sha=False))
    total = cfg.train_clips + cfg.val_clips
    need = estimates(cfg)[0] * pending / max(1, total)
    free = shutil.disk_usage(out).free
    if need <= free:
        return None
    return (f"warning: {out} has {_size(free)} free; the {pending} clips still to make need "
            f"about {_size(need)} (an estimate). A run that fills the disk stops; free space and "
            "rerun to resume.")  # fmt: skip


def _size(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.2f} MB"


def default_batch(renderer: str, cfg: Config | None = None) -> int:
    """Clips per render call when --batch is not given: a GPU launch needs thousands of frames
    (one thread block each) to fill the device; the CPU needs only enough to feed its threads.
    Given ``cfg``, a GPU batch shrinks (in blocks of 8) until one worker fits in 90% of the
    device's memory (gpu_worker_bytes): large frames on a small card."""
    if renderer != "gpu":
        return DEFAULT_BATCH
    memory = gpu_memory() if cfg is not None else 0
    batch = GPU_BATCH
    while memory and batch > 8 and gpu_worker_bytes(cfg, batch) > 0.9 * memory:
        batch -= 8
    return batch


@dataclass(frozen=True)
class RunSummary:
    made: int
    skipped: int
    clips: int
    seconds: float
    peak_rss_mb: float = 0.0  # the largest of any worker's peak

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0


def open_log(out: Path) -> logging.Logger:
    log = logging.getLogger(f"fractalvid.run.{out.resolve()}")
    if not log.handlers:
        handler = logging.FileHandler(out / LOG_FILE)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def run_shards(
    cfg: Config,
    shards: Sequence[ShardSpec],
    out: Path,
    backend: str = "cpu",
    workers: int = 1,
    batch: int | None = None,
    progress: bool = True,
) -> RunSummary:
    """Make every shard of ``shards`` not already done in ``out``, ``workers`` at a time.

    ``batch``: clips per render call (default: ``default_batch`` of the backend's renderer).
    On the GPU each worker encodes with as many ffmpeg threads as it has cores.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    log = open_log(out)
    renderer = get_renderer(backend).name
    batch = batch or default_batch(renderer, cfg)
    threads = max(1, cpu_count() // max(1, workers))
    encoders = threads if renderer == "gpu" else 1
    log.info("start: %d shards, backend=%s workers=%d threads/worker=%d encoders/worker=%d "
             "batch=%d fingerprint=%s", len(shards), renderer, workers, threads, encoders, batch,
             cfg.fingerprint())  # fmt: skip
    total = sum(s.count for s in shards)
    bar = tqdm(total=total, unit="clip", disable=not progress, dynamic_ncols=True,
               desc=f"{out.name}")  # fmt: skip
    if renderer == "cpu" and shards and not compiled_before():
        note = "first run: compiling the CPU kernels (about 15 s; cached for later runs)"
        bar.set_postfix_str(note)
        log.info(note)
    start = time.perf_counter()
    made = skipped = clips = 0
    peak = 0.0
    tasks = (delayed(_worker)(cfg, s, str(out), renderer, threads, batch, encoders)
             for s in shards)  # fmt: skip
    if workers <= 1:
        results = (task[0](*task[1], **task[2]) for task in tasks)
    else:
        results = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")(tasks)
    try:
        for r in results:
            made += not r.skipped
            skipped += r.skipped
            clips += 0 if r.skipped else r.count
            peak = max(peak, r.peak_rss_mb)
            bar.update(r.count)
            bar.set_postfix_str(f"shards {made + skipped}/{len(shards)}")
            log.info("%s %s: %d clips in %.1f s, worker peak RSS %.0f MB", r.name,
                     "skipped (done)" if r.skipped else "made", r.count, r.seconds,
                     r.peak_rss_mb)  # fmt: skip
    except BaseException as exc:
        log.error("stopped: %r", exc)
        results.close()  # now: stops the workers and frees their queues before the exit
        raise
    finally:
        bar.close()
    summary = RunSummary(made, skipped, clips, time.perf_counter() - start, peak)
    log.info("done: %d shards made, %d skipped, %d clips in %.1f s (%.2f clips/s)",
             made, skipped, clips, summary.seconds, summary.clips_per_s)  # fmt: skip
    return summary


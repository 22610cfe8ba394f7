"""How much of the machine a run takes: usable cores, free host and GPU memory, what a worker
needs, the default worker count and batch, and the warnings said before work starts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from .config import Config
from .plan import ShardSpec, estimates
from .progress import shard_done

DEFAULT_BATCH = 8  # clips per render call on the CPU

GPU_WORKERS = 16  # processes sharing one GPU, at most (see default_workers)
GPU_BATCH = 128  # clips per GPU launch: 2,432 blocks of 128 threads at 19 frames a clip
GPU_WORKER_BASE = 1 << 30  # bytes a GPU worker holds whatever its batch: CUDA context, pool slack
CPU_WORKER_BASE = 250 << 20  # bytes of RSS a CPU worker holds whatever its batch (measured)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def gpu_worker_bytes(cfg: Config, batch: int) -> int:
    """Device memory one GPU worker may take (an estimate): a base, plus per pixel of a
    batch's frames 4 bytes of counts, 1 for the box filter's chunks and the tone map, and the
    rendered frames (1 byte) of this batch and of the previous one, whose clips are still being
    composed while this one renders (composed clips, colour ones too, go to the host one at a
    time). The 7 bytes a pixel err high of what a device run measured (docs/gpu.md)."""
    pixels = batch * cfg.frame_range[1] * cfg.resolution**2
    return GPU_WORKER_BASE + pixels * 7


def cpu_worker_bytes(cfg: Config, batch: int | None = None) -> int:
    """Peak RSS of one CPU worker (an estimate): a base, plus 4 bytes a pixel of a batch's
    frames (its rendered frames, the counts of a pass, the compose stage's copies), fitted to
    peak RSS measured at 256 to 2048 px."""
    clips = -(-(batch or DEFAULT_BATCH) // 8) * 8  # whole blocks of background donors
    return CPU_WORKER_BASE + 4 * clips * cfg.frame_range[1] * cfg.resolution**2


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


def _workers_fitting(memory: int, per_worker: int) -> int:
    """Workers that 90% of ``memory`` bytes hold at ``per_worker`` bytes each; at least one."""
    return max(1, int(0.9 * memory) // per_worker)


def default_workers(renderer: str, cfg: Config | None = None, batch: int | None = None) -> int:
    """Worker processes when --workers is not given: one per core on the CPU, or as many as
    90% of the free host memory holds (cpu_worker_bytes), if fewer. On the GPU,
    processes share the device and each drives cores/workers ffmpeg encoders: one per core, up
    to GPU_WORKERS (the most frames/s end to end on an H100 and an H200: docs/gpu.md); given
    ``cfg``, no more than 90% of the device's memory holds (gpu_worker_bytes), and at least
    one."""
    if renderer != "gpu":
        memory = host_memory() if cfg is not None else 0
        if memory:  # large frames: fewer workers than cores rather than running out
            return min(cpu_count(), _workers_fitting(memory, cpu_worker_bytes(cfg, batch)))
        return cpu_count()
    workers = min(GPU_WORKERS, cpu_count())
    memory = gpu_memory() if cfg is not None else 0
    if memory:
        per_worker = gpu_worker_bytes(cfg, batch or default_batch("gpu", cfg))
        workers = min(workers, _workers_fitting(memory, per_worker))
    return max(1, workers)


def memory_warning(cfg: Config, renderer: str, workers: int, batch: int | None) -> str | None:
    """A line saying ``workers`` CPU workers look too many for the free host memory, or None
    (it warns: the estimate is not exact, and the user chose the number)."""
    if renderer != "cpu":
        return None
    memory, each = host_memory(), cpu_worker_bytes(cfg, batch)
    if not memory or workers * each <= memory:
        return None
    return (f"warning: {workers} workers need about {_size(workers * each)} of memory at "
            f"{cfg.resolution} px ({_size(each)} each), and {_size(memory)} is free: pass "
            f"--workers {_workers_fitting(memory, each)} or fewer")


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
            "rerun to resume.")


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

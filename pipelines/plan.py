"""Planning: a pure function of the config from clips to shards (and shards to tasks)."""

from __future__ import annotations

from dataclasses import dataclass

from fractalvid.pipelines.config import MAX_CLIPS, MAX_SHARDS, Config

KEY_DIGITS = len(str(MAX_CLIPS))
SHARD_DIGITS = len(str(MAX_SHARDS - 1))
SPLITS = ("train", "val")


@dataclass(frozen=True)
class ClipSpec:
    """One clip: global number, split, class (None when unlabeled), instance within the class."""

    index: int
    split: str
    class_id: int | None
    instance: int

    @property
    def key(self) -> str:
        return f"{self.index:0{KEY_DIGITS}d}"


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``number`` of ``split`` holds clips first .. first + count - 1 (global numbers)."""

    split: str
    number: int
    first: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.number:0{SHARD_DIGITS}d}"


def split_sizes(cfg: Config) -> dict[str, int]:
    return {"train": cfg.train_clips, "val": cfg.val_clips}


def plan_shards(cfg: Config) -> list[ShardSpec]:
    """All shards, train first; clips are numbered train then val, so keys never collide."""
    shards: list[ShardSpec] = []
    first = 0
    for split, total in split_sizes(cfg).items():
        for number, start in enumerate(range(0, total, cfg.shard_size)):
            count = min(cfg.shard_size, total - start)
            shards.append(ShardSpec(split, number, first + start, count))
        first += total
    return shards


def clip_specs(cfg: Config, shard: ShardSpec) -> list[ClipSpec]:
    """The clips of a shard. Classes interleave (clip i has class i mod C) so every shard mixes
    classes; validation instances are numbered after the training ones."""
    offset = 0 if shard.split == "train" else cfg.train_clips
    base_instance = 0 if shard.split == "train" else cfg.train_per_class
    specs = []
    for index in range(shard.first, shard.first + shard.count):
        local = index - offset
        class_id = local % cfg.classes if cfg.labels else None
        specs.append(ClipSpec(index, shard.split, class_id, base_instance + local // cfg.classes))
    return specs


# Bytes a clip takes whatever its size: tar headers and padding, KEY.json, the MP4's own
# headers and its Parquet rows. Measured: 8.4 kB a clip at 32 px, of which pixels are little.
CLIP_OVERHEAD = 8000


# Bytes per pixel-frame of each codec, measured then rounded up (an estimate that errs high, as
# a disk check should): H.264/H.265 at CRF 23 (see estimates), raw zstd-1 at 256 px: 0.27 for
# plain renders and 0.17 composed. Colour: H.264 adds about half; raw is counted at 3x.
PER_PIXEL = {"mp4": (0.05, 0.04, 1.5), "npy.zst": (0.3, 0.2, 3.0)}  # plain, composed, colour


def disk_estimate(cfg: Config, codec: str | None = None) -> float:
    """Bytes of the whole data set in ``codec`` (default: the config's)."""
    from fractalvid.shards.codec import MEMBER

    plain, composed, colour = PER_PIXEL[MEMBER[codec or cfg.codec]]
    clips = cfg.train_clips + cfg.val_clips
    pixels = clips * (cfg.frames_min + cfg.frames_max) / 2 * cfg.resolution**2
    return clips * CLIP_OVERHEAD + pixels * (composed if cfg.augment else plain) * \
        (colour if cfg.rgb else 1.0)


def estimates(cfg: Config) -> tuple[float, float]:
    """(disk bytes, CPU core-seconds) of the whole data set: ``disk_estimate``, and the time of
    rendering (the generator's ``seconds_per_frame``), encoding and compose at rates that
    `make bench` measured, rounded so the estimate errs high (a job's time limit comes from
    it)."""
    clips = cfg.train_clips + cfg.val_clips
    frames = clips * (cfg.frames_min + cfg.frames_max) / 2
    pixels = frames * cfg.resolution**2
    render = frames * cfg.generator_spec.seconds_per_frame(cfg)
    compose = pixels * (0.025 / (19 * 256**2)) if cfg.augment else 0.0
    encode = pixels / (550 * 256**2) if cfg.codec != "raw" else pixels * 1.2e-9  # zstd-1
    return disk_estimate(cfg), render + encode + compose


def plan_report(cfg: Config, tasks: int = 1) -> dict:
    """What ``cfg`` would make, split over ``tasks`` array tasks: counts, shards per task,
    and the disk, time and memory estimates (``fractalvid plan``; JSON-ready)."""
    from fractalvid.pipelines.sizing import cpu_count, cpu_worker_bytes

    shards = plan_shards(cfg)
    clips = cfg.train_clips + cfg.val_clips
    est_bytes, core_s = estimates(cfg)
    per_clip = core_s / max(clips, 1)
    ranges = [task_range(t, tasks, len(shards)) for t in range(tasks)]
    return {
        "fingerprint": cfg.fingerprint(),
        "generator": cfg.generator,
        "classes": cfg.classes if cfg.labels else None,
        "clips": {"train": cfg.train_clips, "val": cfg.val_clips},
        "frames": int(clips * (cfg.frames_min + cfg.frames_max) / 2),
        "resolution": cfg.resolution,
        "shard_size": cfg.shard_size,
        "shard_clips": sorted({s.count for s in shards}),
        "cores": cpu_count(),
        "shards": {split: sum(s.split == split for s in shards) for split in SPLITS},
        "tasks": [{"task": t, "shards": f"{r.start}:{r.stop}",
                   "clips": sum(shards[i].count for i in r),
                   "core_hours": round(sum(shards[i].count for i in r) * per_clip / 3600, 3)}
                  for t, r in enumerate(ranges)],
        "codec": cfg.codec,
        "estimated_bytes": int(est_bytes),
        "estimated_bytes_by_codec": {c: int(disk_estimate(cfg, c)) for c in ("h264", "raw")},
        "estimated_core_hours": round(core_s / 3600, 3),
        "estimated_worker_bytes": cpu_worker_bytes(cfg),
        "points_per_frame": cfg.render_settings.points_per_frame
        if cfg.generator == "fractal" else None,
        "config": cfg.to_dict(),
    }


def format_report(r: dict, show_tasks: int = 20) -> list[str]:
    """``plan_report`` as the lines ``fractalvid plan`` prints."""
    other = "raw" if r["codec"] != "raw" else "h264"
    hours, cores = r["estimated_core_hours"], r["cores"]
    sizes = r["shard_clips"]
    each = f"{sizes[0]} clips each" if len(sizes) == 1 else \
        f"{sizes[0]}-{sizes[-1]} clips each"
    lines = [
        f"fingerprint  {r['fingerprint']}",
        f"generator    {r['generator']}",
        f"classes      {r['classes'] or 'unlabeled (fresh parameters per clip)'}",
        f"clips        train {r['clips']['train']}, val {r['clips']['val']} ({r['frames']} "
        f"frames at {r['resolution']}x{r['resolution']})",
        f"shards       train {r['shards']['train']}, val {r['shards']['val']} ({each})",
        *([f"points       {r['points_per_frame']:,} per frame"] if r["points_per_frame"] else []),
        f"disk         about {_size(r['estimated_bytes'])} as {r['codec']} (about "
        f"{_size(r['estimated_bytes_by_codec'][other])} with codec={other})",
        f"memory       about {r['estimated_worker_bytes'] / 1e9:.2f} GB a CPU worker (peak RSS)",
        f"time         about {_duration(hours)} of one core on the CPU backend "
        f"({_duration(hours / cores)} on this machine's {cores} "
        f"{'core' if cores == 1 else 'cores'})",
    ]
    lines += [f"task {t['task']:<6} shards {t['shards']:<12} {t['clips']} clips, about "
              f"{_duration(t['core_hours'])} of one core" for t in r["tasks"][:show_tasks]]
    if len(r["tasks"]) > show_tasks:
        lines.append(f"... {len(r['tasks']) - show_tasks} more tasks")
    return lines


def _size(n: float) -> str:
    """Bytes in words: '840 kB', '12.3 MB', '4.56 GB'."""
    if n < 1e6:
        return f"{max(1, round(n / 1e3))} kB"
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _duration(hours: float) -> str:
    """Hours in words that stay readable when small: '40 s', '12 min', '3.4 h'."""
    seconds = hours * 3600
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{hours:.1f} h"


def parse_range(text: str, total: int) -> range:
    """``A:B`` (half-open, either side optional) or ``A`` -> a range of shard indices."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            r = range(int(a) if a.strip() else 0, int(b) if b.strip() else total)
        else:
            r = range(int(text), int(text) + 1)
    except ValueError:
        raise ValueError(f"--shards {text!r}: expected A:B (shard indices)") from None
    if r.start < 0 or r.stop > total or r.start >= r.stop:
        raise ValueError(f"--shards {text!r}: must lie within 0:{total} and not be empty")
    return r


def task_range(task: int, tasks: int, total: int) -> range:
    """Shards of array task ``task`` (0-based) out of ``tasks``: contiguous, balanced."""
    if not 0 <= task < tasks:
        raise ValueError(f"array task {task} outside 0..{tasks - 1}")
    return range(task * total // tasks, (task + 1) * total // tasks)

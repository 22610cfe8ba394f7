"""Planning: a pure function of the config from clips to shards (and shards to tasks)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import MAX_CLIPS, MAX_SHARDS, Config

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
PER_PIXEL = {"mp4": (0.05, 0.04, 1.5), "npy.zst": (0.3, 0.2, 3.0),  # plain, composed, colour
             # stills, at 224 px: PNG as png.py writes it (grey renders are mostly black),
             # JPEG and WebP at quality 90
             "png": (0.35, 0.6, 2.5), "jpg": (0.3, 0.5, 1.5), "webp": (0.2, 0.35, 1.5)}


def disk_estimate(cfg: Config, codec: str | None = None) -> float:
    """Bytes of the whole data set in ``codec`` (default: the config's)."""
    from ..shards.codec import MEMBER

    plain, composed, colour = PER_PIXEL[MEMBER[codec or cfg.member_codec]]
    clips = cfg.train_clips + cfg.val_clips
    pixels = clips * sum(cfg.frame_range) / 2 * cfg.resolution**2
    return clips * CLIP_OVERHEAD + pixels * (composed if cfg.augment else plain) * \
        (colour if cfg.rgb else 1.0)


def estimates(cfg: Config) -> tuple[float, float]:
    """(disk bytes, CPU core-seconds) of the whole data set: ``disk_estimate``, and the time of
    rendering (the generator's ``seconds_per_frame``), encoding and compose at rates that
    `make bench` measured, rounded so the estimate errs high (a job's time limit comes from
    it)."""
    clips = cfg.train_clips + cfg.val_clips
    frames = clips * sum(cfg.frame_range) / 2
    pixels = frames * cfg.resolution**2
    render = frames * cfg.generator_spec.seconds_per_frame(cfg)
    compose = pixels * (0.025 / (19 * 256**2)) if cfg.augment else 0.0
    encode = pixels * 1.2e-9 if cfg.member_codec == "raw" else pixels * 4e-8 if cfg.still \
        else pixels / (550 * 256**2)  # zstd-1; an image codec (PNG, the slowest); x264
    return disk_estimate(cfg), render + encode + compose


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

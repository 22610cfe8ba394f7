"""The data-set config: one frozen dataclass, presets, ``key=value`` overrides, validation.

A config (plus nothing else) determines every byte of the output; its fingerprint guards an
output folder against being mixed with another config's shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from fractalvid.gen.compose import ComposeSettings
from fractalvid.gen.quality import Thresholds
from fractalvid.gen.render import RenderSettings
from fractalvid.gen.variations import DEFAULT_NONLINEAR, VARIATIONS
from fractalvid.shards.codec import MEMBER
from fractalvid.shards.encode import PRESETS, VideoFormat


class ConfigError(ValueError):
    """A bad config key or value; the message names it and says what is allowed."""


# Limits the output formats set, checked before any work rather than met half way through.
MAX_SEED = 2**63 - 1  # clips.parquet keeps the seed in an int64 column
MAX_POINTS = 2**31 - 1  # points a frame (and steps a chain): int32 counts and kernel arguments
MAX_CLIPS = 10**9 - 1  # keys are 9-digit clip numbers (plan.KEY_DIGITS)
MAX_SHARDS = 10**6  # per split: shard names have 6 digits (train-000000)


@dataclass(frozen=True)
class Config:
    """Everything that determines a data set. Field docs are in ``FIELD_HELP``."""

    seed: int = 0
    classes: int = 10
    train_per_class: int = 24
    val_per_class: int = 6
    labels: bool = True
    resolution: int = 128
    frames_min: int = 18
    frames_max: int = 20
    fps: int = 12
    chains: int = 32
    iterations: int = 2000
    burn_in: int = 100
    coarse_resolution: int = 128
    coarse_points: int = 3000
    framing_keep: float = 0.9
    framing_pad: float = 0.1
    variations: tuple[str, ...] = DEFAULT_NONLINEAR
    linear_fraction: float = 0.5
    linear_motion_only: bool = False
    instance_scale: float = 0.4
    instance_offset: float = 0.2
    reject_retries: int = 10
    reject_min_coverage: float = 0.04
    reject_max_coverage: float = 0.85
    reject_min_motion: float = 0.004
    reject_max_escaped: float = 0.05
    augment: bool = True
    color: bool = False
    # compose stage (ALGORITHM section 5); the defaults are the paper's table
    bg_p: float = 1.0
    bg_dynamic_p: float = 0.2
    bg_crop_scale: tuple[float, float] = (0.6, 1.0)
    bg_pan_p: float = 0.5
    blend_max_p: float = 0.05
    blend_alpha: tuple[float, float] = (0.25, 0.55)
    blend_gamma: tuple[float, float] = (0.6, 1.0)
    object_scale: tuple[float, float] = (0.3, 1.0)
    clone_p: float = 0.15
    clone_scale: tuple[float, float] = (0.2, 0.7)
    clone_rotation: float = 60.0
    clone_time_offset: float = 0.25
    shift_p: float = 0.3
    shift_speed: tuple[float, float] = (0.2, 1.0)
    shift_duration: tuple[float, float] = (0.1, 1.0)
    pan_p: float = 0.3
    pan_speed: tuple[float, float] = (0.2, 1.0)
    pan_duration: tuple[float, float] = (0.1, 1.0)
    zoom_p: float = 0.3
    zoom_rate: tuple[float, float] = (0.3, 1.0)
    zoom_duration: tuple[float, float] = (0.1, 1.0)
    shake_p: float = 0.3
    shake_amplitude: tuple[float, float] = (2.0, 4.0)
    shake_sines: tuple[int, int] = (2, 5)
    shake_freq: tuple[float, float] = (0.1, 1.2)
    perspective_p: float = 0.8
    perspective_distortion: float = 0.7
    perspective_zoom: float = 1.4
    codec: str = "h264"
    crf: int = 23
    encoder_preset: str = "veryfast"
    shard_size: int = 16

    def __post_init__(self) -> None:
        validate(self)

    # -- derived views -------------------------------------------------------------------
    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings(
            resolution=self.resolution, chains=self.chains, iterations=self.iterations,
            burn_in=self.burn_in, coarse_resolution=self.coarse_resolution,
            coarse_points=self.coarse_points, keep=self.framing_keep, pad=self.framing_pad,
        )

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.reject_min_coverage, self.reject_max_coverage,
                          self.reject_min_motion, self.reject_max_escaped)

    @property
    def compose_settings(self) -> ComposeSettings:
        return ComposeSettings(**{f.name: getattr(self, f.name) for f in fields(ComposeSettings)})

    @property
    def video_format(self) -> VideoFormat:
        return VideoFormat(self.codec, self.crf, self.encoder_preset, self.fps)

    @property
    def train_clips(self) -> int:
        return self.classes * self.train_per_class

    @property
    def val_clips(self) -> int:
        return self.classes * self.val_per_class

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the config (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


FIELD_HELP = {
    "seed": "dataset seed; every random draw derives from it",
    "classes": "number of fractal classes (labels); with labels=false, sets the clip count only",
    "train_per_class": "training clips per class",
    "val_per_class": "validation clips per class",
    "labels": "true: clips of a class share an IFS; false: a fresh IFS per clip, no .cls",
    "resolution": "frame width and height in pixels (even)",
    "frames_min": "shortest clip, in frames", "frames_max": "longest clip, in frames",
    "fps": "frames per second of the MP4",
    "chains": "chaos-game chains per frame", "iterations": "chaos-game steps per chain",
    "burn_in": "steps per chain discarded before counting",
    "coarse_resolution": "framing render size", "coarse_points": "framing points per frame",
    "framing_keep": "fraction of occupied pixels each frame's box keeps",
    "framing_pad": "padding of the framing box, per side, as a fraction of its size",
    "variations": "comma-separated non-linear flame variations a class may use",
    "linear_fraction": "fraction of classes that stay linear",
    "linear_motion_only": "force linear interpolation between the endpoints",
    "instance_scale": "amplitude of an instance's multiplicative perturbation",
    "instance_offset": "amplitude of an instance's additive perturbation",
    "reject_retries": "redraws of a degenerate class or instance (0: no screening)",
    "reject_min_coverage": "screen: reject below this covered fraction (64 px render)",
    "reject_max_coverage": "screen: reject above this covered fraction (saturated)",
    "reject_min_motion": "screen: reject below this mean frame difference (static)",
    "reject_max_escaped": "screen: reject above this fraction of escaping chaos-game steps",
    "augment": "run the compose stage (backgrounds, object/camera motion, perspective)",
    "color": "RGB clips with tinted fractal and background",
    "codec": "h264 or h265 (MP4), or raw (lossless uint8 frames, zstd; far more disk, fast reads)",
    "crf": "constant rate factor (0-51, lower is better; MP4 only)",
    "encoder_preset": "x264/x265 speed preset",
    "shard_size": "clips per tar shard",
    "bg_p": "probability of a background made from other clips of the shard",
    "bg_dynamic_p": "share of backgrounds that are a moving segment of another clip",
    "bg_crop_scale": "area range of a static background's random resized crop",
    "bg_pan_p": "probability that a static background pans",
    "blend_max_p": "share of blends that take the pixel-wise max instead of the power blend",
    "blend_alpha": "range of a in ((1-a) fg^0.75 + a bg^0.75)^g",
    "blend_gamma": "range of g in the blend",
    "object_scale": "range of the fractal's scale on each axis",
    "clone_p": "probability of a second copy of the fractal",
    "clone_scale": "range of both copies' scale when cloned",
    "clone_rotation": "largest rotation of the copy, degrees",
    "clone_time_offset": "largest time offset of the copy, as a fraction of the clip",
    "shift_p": "probability of object shift",
    "shift_speed": "object-shift speed range, in (frame size / T) pixels per frame",
    "shift_duration": "object-shift duration range, as a fraction of the clip",
    "pan_p": "probability of camera pan",
    "pan_speed": "camera-pan speed range, in (frame size / T) pixels per frame",
    "pan_duration": "camera-pan duration range, as a fraction of the clip",
    "zoom_p": "probability of camera zoom (in or out)",
    "zoom_rate": "zoom-rate range, in 1/T per frame",
    "zoom_duration": "zoom duration range, as a fraction of the clip",
    "shake_p": "probability of camera shake",
    "shake_amplitude": "shake amplitude range, pixels at 112 px (scaled with resolution)",
    "shake_sines": "range of the number of sines summed per axis",
    "shake_freq": "range of the sines' frequencies, radians per frame",
    "perspective_p": "probability of a perspective warp",
    "perspective_distortion": "largest corner move, as a fraction of half the side",
    "perspective_zoom": "zoom (centre crop) after the perspective warp",
}


PRESETS_BY_NAME: dict[str, dict[str, Any]] = {
    # Quick to make anywhere: 10 classes x (24 + 6) clips at 128 px with fewer points; enough
    # instances per class for examples/pretrain.py to learn the classes.
    "tiny": {},
    # The paper's supervised set and render settings (ALGORITHM sections 3-4).
    "paper": dict(
        classes=500, train_per_class=200, val_per_class=10, resolution=256,
        chains=128, iterations=7500, burn_in=200, shard_size=500,
    ),
}


def _coerce(name: str, raw: Any, hint: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if hint is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r}: expected true or false")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected an integer") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if get_origin(hint) is tuple and get_args(hint)[0] is str:
        return tuple(v.strip() for v in text.split(",") if v.strip())
    if get_origin(hint) is tuple:
        kind = get_args(hint)[0]
        parts = [v.strip() for v in text.split(",")]
        try:
            return tuple(kind(v) for v in parts)
        except ValueError:
            noun = "integers" if kind is int else "numbers"
            raise ConfigError(f"{name}={raw!r}: expected LOW,HIGH ({noun})") from None
    return text


def build_config(
    preset: str | None = "tiny",
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> Config:
    """Preset values, then ``base`` (e.g. a config file), then ``overrides`` (``--set``)."""
    if preset is not None and preset not in PRESETS_BY_NAME:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS_BY_NAME)}")
    hints = get_type_hints(Config)
    values: dict[str, Any] = dict(PRESETS_BY_NAME[preset or "tiny"])
    for source in (base or {}, overrides or {}):
        for key, raw in source.items():
            if key not in hints:
                raise ConfigError(
                    f"unknown config key {key!r}; known keys: {', '.join(sorted(hints))}"
                )
            values[key] = _coerce(key, list_to_csv(raw), hints[key])
    return Config(**values)


def list_to_csv(raw: Any) -> Any:
    return ",".join(str(v) for v in raw) if isinstance(raw, list) else raw


def parse_sets(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> dict; a malformed item raises ConfigError."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


# The other keys of an output folder's config.json and dataset.json, beside their "config".
RECORD_KEYS = {"config", "fingerprint", "fractalvid_version", "format", "seed", "splits", "bytes",
               "shards", "quality", "written"}


def load_config_file(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """A JSON config file: ``{"preset": NAME?, key: value, ...}`` -> (preset, values).

    ``dataset.json`` and ``config.json`` of an existing output folder work too (their ``config``).
    """
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text (is it a JSON file?)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a JSON object")
    if isinstance(data.get("config"), dict):
        beside = sorted(set(data) - RECORD_KEYS)
        if beside:  # they would be ignored: say so rather than drop them
            raise ConfigError(f"config file {path}: {', '.join(beside)} beside \"config\" "
                              "would be ignored; move them inside \"config\"")
        data = data["config"]
    data = dict(data)
    preset = data.pop("preset", None)
    return preset, data


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(c: Config) -> None:
    """Raise ConfigError naming the first invalid value (runs on construction)."""
    hints = get_type_hints(Config)
    for f in fields(c):
        v = getattr(c, f.name)
        hint = hints[f.name]
        base = get_origin(hint) or hint
        ok = isinstance(v, base) and not (base is int and isinstance(v, bool))
        if base is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        _require(ok, f"{f.name}={v!r}: expected {getattr(base, '__name__', base)}")
    _require(0 <= c.seed <= MAX_SEED, f"seed={c.seed}: must be in 0..2^63-1")
    for name in ("classes", "train_per_class", "shard_size", "chains", "iterations"):
        _require(getattr(c, name) >= 1, f"{name}={getattr(c, name)}: must be at least 1")
    _require(1 <= c.fps <= 1000, f"fps={c.fps}: must be in 1..1000")
    _require(c.val_per_class >= 0, f"val_per_class={c.val_per_class}: must be >= 0")
    clips = c.train_clips + c.val_clips
    _require(clips <= MAX_CLIPS, f"classes x (train_per_class + val_per_class) = {clips:,} "
             f"clips: at most {MAX_CLIPS:,} (9-digit keys)")
    shards = -(-max(c.train_clips, c.val_clips) // c.shard_size)
    _require(shards <= MAX_SHARDS, f"shard_size={c.shard_size}: {shards:,} shards in a split, "
             f"at most {MAX_SHARDS:,} (6-digit names); raise shard_size")
    _require(
        16 <= c.resolution <= 4096 and c.resolution % 2 == 0,
        f"resolution={c.resolution}: must be an even number of pixels in 16..4096",
    )
    _require(
        2 <= c.frames_min <= c.frames_max <= 1000,
        f"frames_min={c.frames_min}, frames_max={c.frames_max}: need 2 <= min <= max <= 1000",
    )
    _require(
        0 <= c.burn_in < c.iterations,
        f"burn_in={c.burn_in}: must be in 0..iterations-1 ({c.iterations - 1})",
    )
    _require(c.iterations <= MAX_POINTS, f"iterations={c.iterations}: at most {MAX_POINTS}")
    points = c.chains * (c.iterations - c.burn_in)
    _require(points <= MAX_POINTS, f"chains x (iterations - burn_in) = {points:,} points a "
             f"frame: at most {MAX_POINTS:,} (32-bit counts)")
    _require(
        8 <= c.coarse_resolution <= 1024,
        f"coarse_resolution={c.coarse_resolution}: must be in 8..1024",
    )
    _require(
        10 <= c.coarse_points <= 10**9,
        f"coarse_points={c.coarse_points}: must be in 10..10^9",
    )
    _require(0 < c.framing_keep <= 1, f"framing_keep={c.framing_keep}: must be in (0, 1]")
    _require(0 <= c.framing_pad <= 1, f"framing_pad={c.framing_pad}: must be in [0, 1]")
    _require(0 <= c.linear_fraction <= 1, f"linear_fraction={c.linear_fraction}: not in [0, 1]")
    _require(0 <= c.instance_scale < 1, f"instance_scale={c.instance_scale}: not in [0, 1)")
    _require(0 <= c.instance_offset <= 1, f"instance_offset={c.instance_offset}: not in [0, 1]")
    for v in c.variations:
        _require(
            v in VARIATIONS and v != "linear",
            f"variations: unknown variation {v!r}; known: "
            + ", ".join(k for k in VARIATIONS if k != "linear"),
        )
    _require(
        bool(c.variations) or c.linear_fraction == 1.0,
        "variations is empty: set linear_fraction=1 for linear-only classes",
    )
    _require(0 <= c.reject_retries <= 100, f"reject_retries={c.reject_retries}: not in 0..100")
    _require(
        0 <= c.reject_min_coverage <= c.reject_max_coverage <= 1,
        f"reject_min_coverage={c.reject_min_coverage}, reject_max_coverage="
        f"{c.reject_max_coverage}: need 0 <= min <= max <= 1",
    )
    _require(0 <= c.reject_min_motion <= 1, "reject_min_motion: must be in [0, 1]")
    _require(0 <= c.reject_max_escaped <= 1, "reject_max_escaped: must be in [0, 1]")
    _validate_compose(c)
    _require(c.codec in MEMBER, f"codec={c.codec!r}: use one of {', '.join(MEMBER)}")
    _require(0 <= c.crf <= 51, f"crf={c.crf}: must be in 0..51")
    _require(
        c.encoder_preset in PRESETS,
        f"encoder_preset={c.encoder_preset!r}: use one of {', '.join(PRESETS)}",
    )


def _validate_compose(c: Config) -> None:
    hints = get_type_hints(Config)
    for f in fields(ComposeSettings):
        v = getattr(c, f.name)
        if f.name.endswith("_p"):
            _require(0 <= v <= 1, f"{f.name}={v}: a probability must be in [0, 1]")
        elif get_origin(hints[f.name]) is tuple:
            kind = get_args(hints[f.name])[0]
            _require(
                len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                    and (kind is float or isinstance(x, int)) for x in v),
                f"{f.name}={v!r}: expected LOW,HIGH",
            )
            _require(0 <= v[0] <= v[1], f"{f.name}={v[0]},{v[1]}: need 0 <= LOW <= HIGH")
    for name in ("bg_crop_scale", "object_scale", "clone_scale"):
        lo, hi = getattr(c, name)
        _require(0 < lo and hi <= 1, f"{name}={lo},{hi}: scales must lie in (0, 1]")
    _require(c.shake_sines[0] >= 1, f"shake_sines={c.shake_sines}: need at least 1 sine")
    _require(0 <= c.clone_rotation <= 180, f"clone_rotation={c.clone_rotation}: not in 0..180")
    _require(0 <= c.clone_time_offset <= 1, "clone_time_offset: must be in [0, 1]")
    _require(
        0 <= c.perspective_distortion < 1,
        f"perspective_distortion={c.perspective_distortion}: must be in [0, 1)",
    )
    _require(
        0 < c.perspective_zoom <= 4,
        f"perspective_zoom={c.perspective_zoom}: must be in (0, 4]",
    )

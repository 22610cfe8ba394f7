"""The data-set config: one frozen dataclass, presets, ``key=value`` overrides, validation.

A config (plus nothing else, for one generation of the renderer) determines every byte of the
output; its fingerprint guards an output folder against being mixed with another config's (or
another renderer's) shards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import field, fields, make_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import numpy as np

from ..gen.compose import COMPOSE_KEYS, MOVING_KEYS, STILL_KEYS, ComposeSettings
from ..gen.fractal import STILL_KEYS as FRACTAL_STILL_KEYS
from ..gen.generators import DEFAULT, GENERATORS, generator_of, owners
from ..gen.keys import Key, settings_of
from ..gen.keys import at_least as _at_least
from ..gen.keys import in_range as _in
from ..gen.keys import key as _key
from ..gen.quality import Thresholds
from ..gen.render import RenderSettings
from ..shards.codec import IMAGE_CODECS, MEMBER
from ..shards.encode import PRESETS, VideoFormat


class ConfigError(ValueError):
    """A bad config key or value; the message names it and says what is allowed."""


# The generation of the renderer: the same config renders other frames in another one, so it
# is part of the fingerprint and a run never mixes shards of two. 1: the float64 chaos game
# (fractalvid 0.1-0.2); 2: float32, with a 32-bit step hash (0.3).
RENDERER = 2
RENDERER_RELEASES = {1: "0.2", 2: "0.3"}  # the last fractalvid of each generation so far

# Limits the output formats set, checked before any work rather than met half way through.
MAX_SEED = 2**63 - 1  # clips.parquet keeps the seed in an int64 column
MAX_CLIPS = 10**9 - 1  # keys are 9-digit clip numbers (plan.KEY_DIGITS)
MAX_SHARDS = 10**6  # per split: shard names have 6 digits (train-000000)
MEDIA_KINDS = ("video", "image")


# Every config key, in the order `fractalvid keys` and the dataset card list them. A key is
# declared here (or, for a stage's own keys, beside the stage: gen/compose.py, and each
# generator's module) and nowhere else: the Config dataclass, validation, `keys`, the card and
# docs/keys.md derive from it.
KEYS: list[Key] = [
    _key("generator", DEFAULT, "what the clips show: " + ", ".join(GENERATORS), "data",
         ((lambda v: v in GENERATORS), "one of " + ", ".join(GENERATORS))),
    _key("seed", 0, "dataset seed; every random draw derives from it", "data",
         ((lambda v: 0 <= v <= MAX_SEED), "in 0..2^63-1")),
    _key("classes", 10, "number of fractal classes (labels); with labels=false, sets the clip "
         "count only", "data", _at_least(1)),
    _key("train_per_class", 24, "training clips per class", "data", _at_least(1)),
    _key("val_per_class", 6, "validation clips per class", "data", _at_least(0)),
    _key("media", "video", "video: clips of frames_min-frames_max frames; image: one still "
         "per sample (image_codec)", "data",
         ((lambda v: v in MEDIA_KINDS), "one of " + ", ".join(MEDIA_KINDS))),
    _key("labels", True, "true: clips of a class share an IFS; false: a fresh IFS per clip, no "
         ".cls", "data"),
    _key("resolution", 128, "frame width and height in pixels (even)", "render",
         ((lambda v: 16 <= v <= 4096 and v % 2 == 0), "an even number of pixels in 16..4096")),
    _key("frames_min", 18, "shortest clip, in frames", "data", _in(2, 1000)),
    _key("frames_max", 20, "longest clip, in frames", "data", _in(2, 1000)),
    _key("fps", 12, "frames per second of the MP4", "output", _in(1, 1000)),
    *(k for g in GENERATORS.values() for k in g.keys),
    _key("augment", True, "run the compose stage (backgrounds, object/camera motion, "
         "perspective)", "compose"),
    _key("color", False, "RGB clips with tinted fractal and background", "compose"),
    *COMPOSE_KEYS,
    _key("codec", "h264", "h264 or h265 (MP4), or raw (lossless uint8 frames, zstd; far more "
         "disk, fast reads)", "output", ((lambda v: v in MEMBER), "one of " + ", ".join(MEMBER))),
    _key("crf", 23, "constant rate factor (0-51, lower is better; MP4 only)", "output",
         _in(0, 51)),
    _key("encoder_preset", "veryfast", "x264/x265 speed preset", "output",
         ((lambda v: v in PRESETS), "one of " + ", ".join(PRESETS))),
    _key("shard_size", 16, "clips per tar shard", "output", _at_least(1)),
    _key("image_codec", "png", "media=image: png, jpeg or webp (KEY.png / .jpg / .webp), or "
         "raw (KEY.npy.zst, one frame)", "output",
         ((lambda v: v in IMAGE_CODECS), "one of " + ", ".join(IMAGE_CODECS))),
    _key("image_quality", 90, "media=image: JPEG and WebP quality (1-100)", "output",
         _in(1, 100)),
]
# Keys that only a video or only a still uses, refused with the other media (and left out of
# a video config, so video data sets keep their configs, fingerprints and files).
VIDEO_ONLY = {"frames_min", "frames_max", "fps", "codec", "crf", "encoder_preset",
              "linear_motion_only", "instance_scale", "instance_offset", "reject_min_motion",
              *MOVING_KEYS}
IMAGE_ONLY = {"image_codec", "image_quality", *STILL_KEYS, *FRACTAL_STILL_KEYS}
KEYS_BY_NAME = {k.name: k for k in KEYS}
OWNERS = owners()  # {key: generator} of the keys one generator owns
LATER = {"compose_strength": 1.0}  # keys added later: {name: the default left out}


def applies(name: str, generator: str, media: str = "video") -> bool:
    """Whether key ``name`` belongs to a config of ``generator`` and ``media``: the common
    keys and their own (``generator`` and ``media`` themselves are left out at their
    defaults, so configs, fingerprints and every file of fractal video data sets made before
    either existed stay as they were)."""
    if name == "generator":
        return generator != DEFAULT
    if name == "media":
        return media != "video"
    return not foreign(name, generator, media)


def foreign(name: str, generator: str, media: str = "video") -> bool:
    """Whether key ``name`` is another generator's than ``generator``, or only for the other
    media than ``media`` (refused when given)."""
    if OWNERS.get(name, generator) != generator:
        return True
    return name in (IMAGE_ONLY if media == "video" else VIDEO_ONLY)


def keys_markdown() -> str:
    """docs/keys.md: a table of every key, grouped as declared (a test keeps them equal)."""
    lines = ["# Config keys", "",
             "Every key `--set KEY=VALUE` and `--config FILE` take; the default is the tiny "
             "preset's.", "`fractalvid keys --markdown` writes this page.", "",
             "A key of one generator (column `generator`) is refused with another; one marked "
             "(video) or (image) is refused with the other `media`.", "",
             "| key | generator | group | default | meaning | allowed |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{k.name}` | {OWNERS.get(k.name, 'any')}{_media_mark(k.name)} | {k.group} | "
              f"`{k.shown}` | {k.help} | {k.need or '-'} |" for k in KEYS]
    return "\n".join(lines) + "\n"


def _media_mark(name: str) -> str:
    return " (video)" if name in VIDEO_ONLY else " (image)" if name in IMAGE_ONLY else ""


FIELD_HELP = {k.name: k.help for k in KEYS}


class _ConfigViews:
    """What the stages take from a config: settings objects with the same key names."""

    def __post_init__(self) -> None:
        validate(self)

    def _settings(self, cls: type) -> Any:
        return settings_of(self, cls)

    @property
    def generator_spec(self) -> Any:
        """The generator this config names (gen/generators.py)."""
        return generator_of(self)

    @property
    def rgb(self) -> bool:
        """Whether the clips are RGB: tinted (``color``) or RGB as their generator draws them."""
        return self.color or generator_of(self).channels == 3

    @property
    def still(self) -> bool:
        """Whether each sample is one still image (``media=image``)."""
        return self.media == "image"

    @property
    def frame_range(self) -> tuple[int, int]:
        """The shortest and longest clip, in frames: (1, 1) for stills."""
        return (1, 1) if self.still else (self.frames_min, self.frames_max)

    @property
    def member_codec(self) -> str:
        """The codec of a sample's media member: ``codec``, or ``image_codec`` for stills."""
        return self.image_codec if self.still else self.codec

    @property
    def render_settings(self) -> RenderSettings:
        return self._settings(RenderSettings)

    @property
    def thresholds(self) -> Thresholds:
        return self._settings(Thresholds)

    @property
    def compose_settings(self) -> ComposeSettings:
        return self._settings(ComposeSettings)

    @property
    def video_format(self) -> VideoFormat:
        return VideoFormat(self.member_codec, self.crf, self.encoder_preset, self.fps,
                           self.image_quality)

    @property
    def train_clips(self) -> int:
        return self.classes * self.train_per_class

    @property
    def val_clips(self) -> int:
        return self.classes * self.val_per_class

    def to_dict(self) -> dict[str, Any]:
        """The keys that apply to this config's generator (``applies``), in KEYS order; a key
        added since data sets were first made is left out at its default (``LATER``), so
        their configs and fingerprints stay as they were."""
        values = {f.name: getattr(self, f.name) for f in fields(self)
                  if applies(f.name, self.generator, self.media)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()
                if not (k in LATER and v == LATER[k])}

    def fingerprint(self, renderer: int | None = None) -> str:
        """sha256 of the canonical JSON of the config and the ``RENDERER`` generation (first
        16 hex digits). Generation 1 hashed the config alone (``renderer=1`` recomputes it,
        to recognise a data set an older fractalvid made)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        generation = RENDERER if renderer is None else renderer
        if generation > 1:
            blob += f"|renderer={generation}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


Config = make_dataclass(
    "Config", [(k.name, k.type, field(default=k.default, metadata={"key": k})) for k in KEYS],
    bases=(_ConfigViews,), frozen=True)
Config.__module__ = __name__
Config.__doc__ = "Everything that determines a data set: one frozen field per key of ``KEYS``."


PRESETS_BY_NAME: dict[str, dict[str, Any]] = {
    # Quick to make anywhere: 10 classes x (24 + 6) clips at 128 px with fewer points; enough
    # instances per class for examples/pretrain.py to learn the classes.
    "tiny": {},
    # The paper's supervised set and render settings (docs/method.md).
    "paper": dict(
        classes=500, train_per_class=200, val_per_class=10, resolution=256,
        chains=128, iterations=7500, burn_in=200, shard_size=500,
    ),
    # Anderson & Farrell's images (WACV 2022, their IFSGenerator's defaults): 224 px, 100k
    # points, affine maps only, SVD instances, hue colouring on a diamond-square texture, blur
    # half the time. 128 chains fill the chaos kernel's block of chains: for the same points,
    # a third less time than 32 longer chains.
    "images": dict(
        media="image", resolution=224, chains=128, iterations=802, burn_in=20, color=True,
        linear_fraction=1.0, texture_p=1.0, bg_p=0.0, blur_p=0.5, object_scale=(0.5, 1.0),
        clone_p=0.0, perspective_p=0.0, image_instance="svd", shard_size=1000,
    ),
    # FractalDB-1k (Kataoka et al., ACCV 2020): 1,000 classes x 1,000 instances, grey on
    # black at 362 px, 200k points, classes of 2-7 maps with coefficients U(-1, 1) kept when
    # they fill at least 20% of the canvas, one coefficient scaled per instance (and a flip).
    "fractaldb-1k": dict(
        media="image", classes=1000, train_per_class=1000, val_per_class=0, resolution=362,
        chains=128, iterations=1583, burn_in=20, augment=False, linear_fraction=1.0,
        image_class="fractaldb", image_instance="fractaldb", reject_min_coverage=0.2,
        shard_size=1000,
    ),
}


def _flag(text: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ValueError(text)


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _pair(kind: type):
    return lambda text: tuple(kind(v.strip()) for v in text.split(","))


# How --set text becomes a value, by the key's type; and what to say when it cannot.
PARSERS = {
    bool: (_flag, "true or false"),
    int: (int, "an integer"),
    float: (float, "a number"),
    str: (str.strip, "text"),
    tuple[str, ...]: (_names, "comma-separated names"),
    tuple[int, int]: (_pair(int), "LOW,HIGH (integers)"),
    tuple[float, float]: (_pair(float), "LOW,HIGH (numbers)"),
}


def _coerce(key: Key, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    parse, expected = PARSERS[key.type]
    try:
        return parse(raw.strip())
    except ValueError:
        raise ConfigError(f"{key.name}={raw!r}: expected {expected}") from None


def build_config(
    preset: str | None = "tiny",
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> Config:
    """Preset values, then ``base`` (e.g. a config file), then ``overrides`` (``--set``)."""
    if preset is not None and preset not in PRESETS_BY_NAME:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS_BY_NAME)}")
    values: dict[str, Any] = dict(PRESETS_BY_NAME[preset or "tiny"])
    given: set[str] = set()
    for source in (base or {}, overrides or {}):
        for name, raw in source.items():
            if name not in KEYS_BY_NAME:
                raise ConfigError(f"unknown config key {name!r}; known keys: "
                                  f"{', '.join(sorted(KEYS_BY_NAME))}")
            values[name] = _coerce(KEYS_BY_NAME[name], list_to_csv(_python(raw)))
            given.add(name)
    generator = values.get("generator", DEFAULT)
    media = values.get("media", "video")
    if generator in GENERATORS and media in MEDIA_KINDS:  # else validation names it
        for name in sorted(given):
            if foreign(name, generator, media):
                raise ConfigError(_foreign(name, generator, media))
        # a preset's values of another generator's (or media's) keys do not apply here
        values = {k: v for k, v in values.items() if not foreign(k, generator, media)}
    return Config(**values)


def as_config(config: Any) -> Config:
    """A Config from what the API takes: a Config, a preset name, or a dict of keys (with an
    optional "preset"); ConfigError for anything else."""
    if isinstance(config, Config):
        return config
    if isinstance(config, str):
        return build_config(config)
    if isinstance(config, dict):
        values = dict(config)
        return build_config(values.pop("preset", None) or "tiny", base=values)
    raise ConfigError(f"config={config!r}: expected a Config (build_config), a preset name or "
                      "a dict of keys")


def _python(raw: Any) -> Any:
    """numpy scalars (np.int64(3), np.float32(0.5), np.bool_) and sequences of them as plain
    Python values, which the keys' checks take."""
    if isinstance(raw, np.generic):
        return raw.item()
    if isinstance(raw, (list, tuple, np.ndarray)):
        return [_python(v) for v in raw]
    return raw


def _foreign(name: str, generator: str, media: str = "video") -> str:
    if OWNERS.get(name, generator) == generator:
        other = "image" if media == "video" else "video"
        return (f"{name}: a key of media={other}; this config's media is {media} "
                "(`fractalvid keys` marks which keys each takes)")
    return (f"{name}: a key of the {OWNERS[name]} generator; this config's generator is "
            f"{generator} (`fractalvid keys` lists each generator's keys)")


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


def _type_problem(key: Key, v: Any) -> str | None:
    """A value of the wrong type (a Config built in Python, or a config file's JSON)."""
    kind = get_origin(key.type) or key.type
    ok = isinstance(v, kind) and not (kind is int and isinstance(v, bool))
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        ok = True
    if ok and kind is tuple:
        item = get_args(key.type)[0]
        ok = all(isinstance(x, item) or (item is float and isinstance(x, int))
                 for x in v) and not any(isinstance(x, bool) for x in v)
        ok = ok and (item is str or len(v) == 2)
    if ok:
        return None
    expected = PARSERS[key.type][1] if kind is tuple else getattr(kind, "__name__", kind)
    return f"{key.name}={v!r}: expected {expected}"


# Rules between keys, and the limits the output formats set: (holds, message).
RULES: list[Callable[[Any], str | None]] = [
    lambda c: None if c.frames_min <= c.frames_max else
    f"frames_min={c.frames_min}, frames_max={c.frames_max}: need min <= max",
    lambda c: None if (n := c.train_clips + c.val_clips) <= MAX_CLIPS else
    f"classes x (train_per_class + val_per_class) = {n:,} clips: at most {MAX_CLIPS:,} "
    "(9-digit keys)",
    lambda c: None if (n := -(-max(c.train_clips, c.val_clips) // c.shard_size)) <= MAX_SHARDS
    else f"shard_size={c.shard_size}: {n:,} shards in a split, at most {MAX_SHARDS:,} (6-digit "
    "names); raise shard_size",
]


def validate(c: Config) -> None:
    """Raise ConfigError naming the first invalid value (runs on construction): each key's
    type and declared range, then the rules between keys."""
    for f in fields(c):
        key, v = f.metadata["key"], getattr(c, f.name)
        problem = _type_problem(key, v) or key.problem(v)
        if problem:
            raise ConfigError(problem)
    for f in fields(c):  # another generator's (or media's) keys stay at their defaults
        key, v = f.metadata["key"], getattr(c, f.name)
        if foreign(f.name, c.generator, c.media) and v != key.default:
            raise ConfigError(_foreign(f.name, c.generator, c.media))
    for rule in RULES:
        if problem := rule(c):
            raise ConfigError(problem)
    if problem := generator_of(c).check(c):
        raise ConfigError(problem)

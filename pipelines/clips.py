"""Around a generator's clips: background donor blocks, the compose stage, the clip record."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..gen.arrays import array_module, to_host
from ..gen.compose import apply_ops, ramped, sample_ops, still_settings
from ..gen.generator import Drawn, Made
from ..gen.quality import quality
from ..gen.rng import stream
from .config import Config
from .plan import ClipSpec

DONOR_GROUP = 8  # backgrounds come from the other clips of a block of this many


def donor_blocks(specs: list[ClipSpec]) -> list[list[ClipSpec]]:
    """A shard's clips in blocks of DONOR_GROUP consecutive clips (the last may be shorter).
    Blocks follow positions in the shard, so a shard stays a pure function of the config
    whatever the render batch."""
    return [specs[at : at + DONOR_GROUP] for at in range(0, len(specs), DONOR_GROUP)]


def block_donors(block: list[ClipSpec], spec: ClipSpec) -> list[ClipSpec]:
    """The clips of ``spec``'s donor block that may lend it a background: the others,
    preferring other classes."""
    others = [s for s in block if s.index != spec.index]
    other_class = [s for s in others if s.class_id is None or s.class_id != spec.class_id]
    return other_class or others or block


def compose_clip(
    cfg: Config, spec: ClipSpec, frames: np.ndarray, donors: dict[str, np.ndarray],
    donor_specs: list[ClipSpec], host: bool = True, strength: float | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Rendered frames [T, H, W] uint8 -> (composed [T, H, W(, 3)] uint8, operations).

    donors: key -> rendered frames of the shard's clips; the background may use donor_specs'.
    Frames on the GPU (cupy) are composed there; only the finished clip comes to the host
    (numpy), unless ``host`` is False. ``strength``: the compose strength of this clip
    (default: the config's ``compose_strength``).
    """
    strength = cfg.compose_strength if strength is None else strength
    ops = sample_ops(
        stream(cfg.seed, "compose", spec.index), _settings(cfg, strength), frames.shape[0],
        frames.shape[1], [(d.key, donors[d.key].shape[0]) for d in donor_specs],
        augment=cfg.augment, color=cfg.color, still=cfg.still,
    )
    clip = apply_ops(ops, frames, donors, array_module(frames))
    return (to_host(clip) if host else clip), ops


@lru_cache(maxsize=64)
def _settings(cfg: Config, strength: float) -> Any:
    """The compose settings of ``cfg``'s clips at ``strength`` (made once: a shard's clips
    share them, and making them costs a still a noticeable part of its compose stage)."""
    settings = ramped(cfg.compose_settings, strength)
    return still_settings(settings) if cfg.still else settings


def clip_record(
    cfg: Config, spec: ClipSpec, shard: str, drawn: Drawn, made: Made, frames: np.ndarray,
    ops: list[dict], figures: bool = True, strength: float = 1.0,
) -> dict[str, Any]:
    """Metadata of one clip (the KEY.json member and its clips.parquet row): the common
    fields, and the generator's own columns (``made.columns``); frames are the final clip's
    [T, H, W(, 3)] uint8 (host frames where ``figures``: the quality figures). A compose
    ``strength`` below 1 is recorded as ``compose_strength`` (at 1 the record is as it was
    before the key existed)."""
    t, h, w = frames.shape[:3]
    labeled = spec.class_id is not None
    base = cfg.generator_spec.class_for(cfg, spec.class_id) if labeled else drawn
    return {
        "key": spec.key,
        "split": spec.split,
        "shard": shard,
        "class_id": spec.class_id,
        "instance": spec.instance,
        "seed": cfg.seed,
        **made.columns,
        "frames": t,
        "height": h,
        "width": w,
        "fps": 0 if cfg.still else cfg.fps,
        "class_attempt": base.attempt,
        "instance_attempt": drawn.attempt if labeled else 0,
        "defect": drawn.defect,
        "channels": 3 if frames.ndim == 4 else 1,
        "ops": [op["name"] for op in ops],
        "augmentations": ops,
        **({"compose_strength": strength} if strength < 1 else {}),
        **({"media": "image"} if cfg.still else {}),
        **(quality(frames) if figures else {}),
    }

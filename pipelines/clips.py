"""From clip specs to render jobs and metadata records (the gen stage's inputs and outputs)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from fractalvid.gen.compose import apply_ops, sample_ops
from fractalvid.gen.ifs import IFSClass, class_coefficients, sample_class
from fractalvid.gen.instance import sample_perturbation
from fractalvid.gen.render import Rendered, RenderJob
from fractalvid.gen.rng import seed64, stream
from fractalvid.gen.variations import NAMES
from fractalvid.pipelines.config import Config
from fractalvid.pipelines.plan import ClipSpec

COVERAGE_LEVEL = 0.1  # a pixel counts as covered above 10% of full scale
DONOR_GROUP = 8  # backgrounds come from the other clips of a block of this many


def draw_class(cfg: Config, purpose: str, key: int) -> IFSClass:
    return sample_class(
        stream(cfg.seed, purpose, key),
        frames=(cfg.frames_min, cfg.frames_max),
        variations=cfg.variations,
        linear_fraction=cfg.linear_fraction,
        linear_motion_only=cfg.linear_motion_only,
    )


@lru_cache(maxsize=4096)
def class_for(cfg: Config, class_id: int) -> IFSClass:
    """The IFS-with-motion of a labeled class (cached: a shard holds many clips per class)."""
    return draw_class(cfg, "class", class_id)


def clip_class(cfg: Config, spec: ClipSpec) -> IFSClass:
    if spec.class_id is None:  # unlabeled: a fresh IFS per clip
        return draw_class(cfg, "unlabeled", spec.index)
    return class_for(cfg, spec.class_id)


def clip_job(cfg: Config, spec: ClipSpec) -> tuple[RenderJob, IFSClass]:
    """Coefficients of one clip: the class's, perturbed per instance when labeled."""
    cls = clip_class(cfg, spec)
    coefs = class_coefficients(cls)
    if spec.class_id is not None:
        pert = sample_perturbation(
            cls.frames, cls.n_maps, stream(cfg.seed, "instance", spec.index),
            cfg.instance_scale, cfg.instance_offset,
        )  # fmt: skip
        coefs = pert.apply(coefs)
    return RenderJob(coefs, cls.variation, seed64(cfg.seed, "render", spec.index)), cls


def quality(frames: np.ndarray) -> dict[str, float]:
    """Quality figures of a clip, frames [T, H, W] or [T, H, W, 3] uint8 (RGB: brightest channel).

    coverage: fraction of pixels above 10% of full scale, mean over frames;
    motion: mean absolute difference of consecutive frames, on a 0-1 scale.
    """
    if frames.ndim == 4:
        frames = frames.max(axis=3)
    covered = frames > int(255 * COVERAGE_LEVEL)
    coverage = float(covered.mean())
    if frames.shape[0] > 1:
        diff = np.abs(np.diff(frames.astype(np.int16), axis=0))
        motion = float(diff.mean() / 255.0)
    else:
        motion = 0.0
    return {"coverage": round(coverage, 6), "motion": round(motion, 6)}


def donor_group(specs: list[ClipSpec], at: int) -> list[ClipSpec]:
    """The clips that may lend clip ``at`` of a shard its background: the others of its block of
    DONOR_GROUP consecutive clips, preferring other classes. Blocks follow positions in the
    shard, so a shard stays a pure function of the config whatever the render batch."""
    first = at - at % DONOR_GROUP
    block = specs[first : first + DONOR_GROUP]
    others = [s for s in block if s.index != specs[at].index]
    other_class = [s for s in others if s.class_id is None or s.class_id != specs[at].class_id]
    return other_class or others or block


def compose_clip(
    cfg: Config, spec: ClipSpec, frames: np.ndarray, donors: dict[str, np.ndarray],
    donor_specs: list[ClipSpec],
) -> tuple[np.ndarray, list[dict]]:
    """Rendered frames [T, H, W] uint8 -> (composed [T, H, W(, 3)] uint8, applied operations).

    donors: key -> rendered frames of the shard's clips; the background may use donor_specs'.
    """
    ops = sample_ops(
        stream(cfg.seed, "compose", spec.index), cfg.compose_settings, frames.shape[0],
        frames.shape[1], [(d.key, donors[d.key].shape[0]) for d in donor_specs],
        augment=cfg.augment, color=cfg.color,
    )  # fmt: skip
    return apply_ops(ops, frames, donors), ops


def clip_record(
    cfg: Config, spec: ClipSpec, shard: str, cls: IFSClass, job: RenderJob, out: Rendered,
    frames: np.ndarray, ops: list[dict],
) -> dict[str, Any]:
    """Metadata of one clip (the KEY.json member and its clips.parquet row); frames are the
    final clip's [T, H, W(, 3)] uint8."""
    t, h, w = frames.shape[:3]
    return {
        "key": spec.key,
        "split": spec.split,
        "shard": shard,
        "class_id": spec.class_id,
        "instance": spec.instance,
        "seed": cfg.seed,
        "render_seed": int(job.seed),
        "variation": NAMES[cls.variation],
        "n_maps": cls.n_maps,
        "motion_curves": ",".join(cls.motion),
        "constant_shift": cls.constant_shift,
        "frames": t,
        "height": h,
        "width": w,
        "fps": cfg.fps,
        "window": [round(float(v), 6) for v in out.window],
        "escaped": round(out.escaped, 6),
        "channels": 3 if frames.ndim == 4 else 1,
        "ops": [op["name"] for op in ops],
        "augmentations": ops,
        **quality(frames),
    }

"""From clip specs to render jobs and metadata records (the gen stage's inputs and outputs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from fractalvid.gen.arrays import array_module, to_host
from fractalvid.gen.compose import apply_ops, sample_ops
from fractalvid.gen.ifs import IFSClass, class_coefficients, sample_class
from fractalvid.gen.instance import sample_perturbation
from fractalvid.gen.quality import defect, quality, screen_many
from fractalvid.gen.render import Rendered, Renderer, RenderJob
from fractalvid.gen.rng import seed64, stream
from fractalvid.gen.variations import NAMES
from fractalvid.pipelines.config import Config
from fractalvid.pipelines.plan import ClipSpec

DONOR_GROUP = 8  # backgrounds come from the other clips of a block of this many


@dataclass(frozen=True)
class Drawn:
    """A screened draw: ``attempt`` numbers the redraw that was kept (-1: an instance fell back
    to its class's own parameters); ``defect`` says why it is still degenerate, if it is."""

    cls: IFSClass
    coefs: np.ndarray  # [T, N, 6] float64
    attempt: int
    defect: str | None


@dataclass(frozen=True)
class _Draw:
    """A draw to screen: ``make(rng) -> (IFSClass, coefs [T, N, 6])`` on the stream of
    (seed, purpose, key, attempt)."""

    purpose: str
    key: int
    make: Callable[[np.random.Generator], tuple[IFSClass, np.ndarray]]


def _screen_draws(cfg: Config, draws: list[_Draw], renderer: Renderer | None = None) -> list[Drawn]:
    """Deterministic rejection sampling: attempts 0, 1, ... of each draw until its screen
    passes, at most ``reject_retries`` redraws; the last is kept if none passes (and its defect
    recorded). Each round screens every draw still open in one render call on ``renderer``
    (exact, or the CPU's); a draw's attempts depend on nothing else, so the result is the same
    as screening draws one at a time."""
    results: list[Drawn | None] = [None] * len(draws)
    open_ = list(range(len(draws)))
    attempt = 0
    while open_:
        made = [draws[i].make(stream(cfg.seed, draws[i].purpose, draws[i].key, attempt))
                for i in open_]
        if cfg.reject_retries == 0:
            for i, (cls, coefs) in zip(open_, made):
                results[i] = Drawn(cls, coefs, attempt, None)
            break
        jobs = [RenderJob(coefs, cls.variation, seed64(cfg.seed, draws[i].purpose, draws[i].key,
                                                       attempt))
                for i, (cls, coefs) in zip(open_, made)]
        still = []
        for i, (cls, coefs), figures in zip(open_, made, screen_many(jobs, renderer)):
            why = defect(figures, cfg.thresholds)
            if why is None or attempt == cfg.reject_retries:
                results[i] = Drawn(cls, coefs, attempt, why)
            else:
                still.append(i)
        open_ = still
        attempt += 1
    return results


def _class_maker(cfg: Config):
    def make(rng: np.random.Generator) -> tuple[IFSClass, np.ndarray]:
        cls = sample_class(
            rng, frames=(cfg.frames_min, cfg.frames_max), variations=cfg.variations,
            linear_fraction=cfg.linear_fraction, linear_motion_only=cfg.linear_motion_only,
        )
        return cls, class_coefficients(cls)

    return make


def draw_class(cfg: Config, purpose: str, key: int) -> Drawn:
    """A screened IFS class (``purpose`` "class" for labeled classes, "unlabeled" per clip)."""
    return _screen_draws(cfg, [_Draw(purpose, key, _class_maker(cfg))])[0]


@lru_cache(maxsize=4096)
def class_for(cfg: Config, class_id: int) -> Drawn:
    """The IFS-with-motion of a labeled class (cached: a shard holds many clips per class)."""
    return draw_class(cfg, "class", class_id)


def class_row(cfg: Config, class_id: int) -> dict[str, Any]:
    """A labeled class as its classes.parquet row: id, screening outcome, variation, map count,
    frames, motion curves and endpoint parameters (flattened: theta, phi [2, N]; singular
    values, shift [2, N, 2]; flips [N, 4])."""
    drawn = class_for(cfg, class_id)
    c = drawn.cls
    return {
        "class_id": class_id, "attempt": drawn.attempt, "defect": drawn.defect,
        "variation": NAMES[c.variation], "n_maps": c.n_maps, "frames": c.frames,
        "motion_curves": ",".join(c.motion), "constant_shift": c.constant_shift,
        "theta": c.theta.ravel().tolist(), "phi": c.phi.ravel().tolist(),
        "singular_values": c.sv.ravel().tolist(), "shift": c.shift.ravel().tolist(),
        "flips": c.flips.ravel().tolist(),
    }


def draw_instances(cfg: Config, specs: list[ClipSpec], renderer: Renderer | None = None
                   ) -> list[Drawn]:
    """The clips' IFS, screened together on ``renderer``: a labeled clip's class perturbed per
    instance, screened like classes (a clip with no passing perturbation uses its class's own
    parameters: attempt -1); an unlabeled clip's own fresh class."""

    def perturb(base: Drawn):
        def make(rng: np.random.Generator) -> tuple[IFSClass, np.ndarray]:
            pert = sample_perturbation(base.cls.frames, base.cls.n_maps, rng, cfg.instance_scale,
                                       cfg.instance_offset)
            return base.cls, pert.apply(base.coefs)

        return make

    draws = [
        _Draw("unlabeled", s.index, _class_maker(cfg)) if s.class_id is None
        else _Draw("instance", s.index, perturb(class_for(cfg, s.class_id)))
        for s in specs
    ]
    drawn = _screen_draws(cfg, draws, renderer)
    for i, s in enumerate(specs):
        if s.class_id is not None and drawn[i].defect is not None:
            base = class_for(cfg, s.class_id)
            if base.defect is None:
                drawn[i] = Drawn(base.cls, base.coefs, -1, None)
    return drawn


def draw_instance(cfg: Config, spec: ClipSpec) -> Drawn:
    """``draw_instances`` of one clip, screened on the CPU."""
    return draw_instances(cfg, [spec])[0]


def clip_jobs(cfg: Config, specs: list[ClipSpec], renderer: Renderer | None = None
              ) -> list[tuple[RenderJob, Drawn]]:
    """The render jobs of clips, and the draws they came from (screened on ``renderer``)."""
    return [
        (RenderJob(d.coefs, d.cls.variation, seed64(cfg.seed, "render", s.index)), d)
        for s, d in zip(specs, draw_instances(cfg, specs, renderer))
    ]


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
    donor_specs: list[ClipSpec], host: bool = True,
) -> tuple[np.ndarray, list[dict]]:
    """Rendered frames [T, H, W] uint8 -> (composed [T, H, W(, 3)] uint8, operations).

    donors: key -> rendered frames of the shard's clips; the background may use donor_specs'.
    Frames on the GPU (cupy) are composed there; only the finished clip comes to the host
    (numpy), unless ``host`` is False.
    """
    ops = sample_ops(
        stream(cfg.seed, "compose", spec.index), cfg.compose_settings, frames.shape[0],
        frames.shape[1], [(d.key, donors[d.key].shape[0]) for d in donor_specs],
        augment=cfg.augment, color=cfg.color,
    )
    clip = apply_ops(ops, frames, donors, array_module(frames))
    return (to_host(clip) if host else clip), ops


def clip_record(
    cfg: Config, spec: ClipSpec, shard: str, drawn: Drawn, job: RenderJob, out: Rendered,
    frames: np.ndarray, ops: list[dict], figures: bool = True,
) -> dict[str, Any]:
    """Metadata of one clip (the KEY.json member and its clips.parquet row); frames are the
    final clip's [T, H, W(, 3)] uint8 (host frames where ``figures``: the quality figures)."""
    t, h, w = frames.shape[:3]
    cls = drawn.cls
    base = class_for(cfg, spec.class_id) if spec.class_id is not None else drawn
    return {
        "key": spec.key,
        "split": spec.split,
        "shard": shard,
        "class_id": spec.class_id,
        "instance": spec.instance,
        "seed": cfg.seed,
        "render_seed": str(job.seed),  # text: JSON readers choke on ints beyond int64
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
        "class_attempt": base.attempt,
        "instance_attempt": drawn.attempt if spec.class_id is not None else 0,
        "defect": drawn.defect,
        "channels": 3 if frames.ndim == 4 else 1,
        "ops": [op["name"] for op in ops],
        "augmentations": ops,
        **(quality(frames) if figures else {}),
    }

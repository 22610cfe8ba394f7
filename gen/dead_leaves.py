"""The dead_leaves generator: 15-30 coloured shapes painted in order on black, each moving
along its own path (the paper's dead-leaves baseline; docs/generators.md).

A class is the shapes' paths: per shape two curves of the method's motion families (sharp,
smooth, periodic, linear), rescaled 1-2x with a random sign, offset and reversal. An instance
drops 20% of the shapes, shuffles them, multiplies the paths by smooth random curves
(``dead_leaves_perturbation``), offsets them slightly, and draws fresh colours, sizes, sides
and rotations. The paths of all shapes and frames together are fitted to the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .generator import HEAD, SCREEN, SIZE, TAIL, Drawn, Made
from .keys import UNIT, key
from .motion import sample_weights
from .paint import bounds, paint_shapes
from .rng import stream
from .spline import random_factor

SHAPES = (15, 30)  # shapes a class holds
RADIUS = (12, 32)  # pixels at REFERENCE_PX
REFERENCE_PX = 256
SIDES = (1, 8)  # 1-2: a circle; 3-8: a regular polygon
DROP = 0.2  # share of a class's shapes an instance leaves out
OFFSET = 0.08  # an instance's shift of a path, as a fraction of the class's extent

KEYS = (
    key("dead_leaves_perturbation", 0.2, "amplitude of an instance's smooth multiplicative "
        "change of each path", "dead_leaves", UNIT),
)


@dataclass(frozen=True)
class Paths:
    """A class: paths [T, S, 2] float64 (x, y in path units) and each path's curve families
    (S pairs, for the record)."""

    paths: np.ndarray
    motion: tuple[str, ...]


@dataclass(frozen=True)
class Leaves:
    """A clip: centres [T, S, 2] float64 pixels; radius [S] float64; sides [S] int64; rotation
    [S] float64 radians; colors [S, 3] uint8; each path's curve families [S]."""

    centers: np.ndarray
    radius: np.ndarray
    sides: np.ndarray
    rotation: np.ndarray
    colors: np.ndarray
    motion: tuple[str, ...]


def _path(rng: np.random.Generator, t: int) -> tuple[np.ndarray, str]:
    """[T, 2]: two family curves normalised to [0, 1], scaled 1-2x with a random sign, offset
    by U(-2, 2), each reversed with probability 1/2."""
    axes, kinds = [], []
    for _ in range(2):
        u, kind = sample_weights(t, 1, rng)
        u = u[:, 0]
        span = u.max() - u.min()
        axes.append((u - u.min()) / span if span > 0 else np.zeros(t))
        kinds.append(kind[0])
    p = np.stack(axes, axis=1)
    p = p * rng.uniform(1.0, 2.0, 2) * rng.choice([-1.0, 1.0], 2) + rng.uniform(-2.0, 2.0, 2)
    flip = rng.random(2) < 0.5
    p[:, flip] = p[::-1, flip]
    return p, "+".join(kinds)


def _paths(cfg: Any, rng: np.random.Generator) -> Paths:
    t = int(rng.integers(cfg.frame_range[0], cfg.frame_range[1] + 1))
    drawn = [_path(rng, t) for _ in range(int(rng.integers(SHAPES[0], SHAPES[1] + 1)))]
    return Paths(np.stack([p for p, _ in drawn], axis=1), tuple(k for _, k in drawn))


@lru_cache(maxsize=4096)
def class_for(cfg: Any, class_id: int) -> Drawn:
    return Drawn(_paths(cfg, stream(cfg.seed, "class", class_id)))


def _mutate(cfg: Any, paths: np.ndarray, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """An instance's paths [T, S', 2] and the kept shapes' indices [S']."""
    t, s, _ = paths.shape
    keep = np.flatnonzero(rng.random(s) >= DROP)
    if keep.size == 0:
        keep = np.array([int(rng.integers(s))])
    keep = keep[rng.permutation(keep.size)]
    p = paths[:, keep].copy()
    eps = cfg.dead_leaves_perturbation
    factors = np.stack([random_factor(rng, t, eps) for _ in range(2 * keep.size)], axis=1)
    p *= factors.reshape(t, keep.size, 2)
    lo, hi = bounds(p)
    extent = hi - lo
    p += rng.uniform(-1.0, 1.0, (keep.size, 2)) * extent * OFFSET
    return p, keep


def _leaves(cfg: Any, paths: np.ndarray, motion: tuple[str, ...], rng: np.random.Generator
            ) -> Leaves:
    """Paths fitted to the canvas (all shapes and frames together), and fresh looks."""
    size = cfg.resolution
    lo, hi = bounds(paths)
    span = np.where(hi > lo, hi - lo, 1.0)
    centers = (paths - lo) / span * (size - 1) + 0.5
    s = paths.shape[1]
    scale = size / REFERENCE_PX
    return Leaves(
        centers=centers,
        radius=rng.integers(RADIUS[0], RADIUS[1] + 1, s) * scale,
        sides=rng.integers(SIDES[0], SIDES[1] + 1, s).astype(np.int64),
        rotation=np.deg2rad(rng.integers(0, 360, s)).astype(np.float64),
        colors=rng.integers(0, 256, (s, 3)).astype(np.uint8),
        motion=motion,
    )


class DeadLeaves:
    """Dead-leaves clips (RGB)."""

    name = "dead_leaves"
    title = "Dead-leaves video data set"
    about = ("Every clip is 15-30 coloured circles and regular polygons painted in order on "
             "black, each moving along its own path")
    keys = KEYS
    channels = 3
    gpu = False
    screened = False
    tally = None
    columns = (*HEAD, ("n_shapes", "int16"), ("motion_curves", "string"), *SIZE, *SCREEN,
               *TAIL)
    class_columns = (("class_id", "int32"), ("attempt", "int16"), ("defect", "string"),
                     ("frames", "int16"), ("n_shapes", "int16"), ("motion_curves", "string"),
                     ("paths", "float64[]"))

    def check(self, cfg: Any) -> str | None:
        if cfg.color:
            return "color=true: dead_leaves clips are RGB already; leave color false"
        return None

    def class_for(self, cfg: Any, class_id: int) -> Drawn:
        return class_for(cfg, class_id)

    def class_row(self, cfg: Any, class_id: int) -> dict[str, Any]:
        """paths: [T, S, 2] flattened (x, y per shape per frame, in path units)."""
        c: Paths = class_for(cfg, class_id).params
        return {"class_id": class_id, "attempt": 0, "defect": None,
                "frames": c.paths.shape[0], "n_shapes": c.paths.shape[1],
                "motion_curves": ",".join(c.motion), "paths": c.paths.ravel().tolist()}

    def draw(self, cfg: Any, specs: list, renderer: Any = None) -> list[Drawn]:
        out = []
        for s in specs:
            if s.class_id is None:
                rng = stream(cfg.seed, "unlabeled", s.index)
                c = _paths(cfg, rng)
                paths, motion = c.paths, c.motion
            else:
                rng = stream(cfg.seed, "instance", s.index)
                c = class_for(cfg, s.class_id).params
                paths, kept = _mutate(cfg, c.paths, rng)
                motion = tuple(c.motion[i] for i in kept)
            out.append(Drawn(_leaves(cfg, paths, motion, rng)))
        return out

    def render(self, cfg: Any, specs: list, drawn: list[Drawn], renderer: Any = None
               ) -> list[Made]:
        made = []
        for d in drawn:
            leaves: Leaves = d.params
            t = leaves.centers.shape[0]
            frames = np.zeros((t, cfg.resolution, cfg.resolution, 3), np.uint8)
            paint_shapes(frames, leaves.centers, leaves.radius, leaves.sides, leaves.rotation,
                         leaves.colors, False)
            made.append(Made(frames, {"n_shapes": len(leaves.motion),
                                      "motion_curves": ",".join(leaves.motion)}))
        return made

    def seconds_per_frame(self, cfg: Any) -> float:
        return 1e-8 * cfg.resolution**2 + 2e-4


GENERATOR = DeadLeaves()

"""The octopus generator: 3-5 "limbs" joined at one point, each a curve that blends between two
shapes over time, drawn as thick strokes of one colour (the paper's octopus baseline;
docs/generators.md).

A class holds each limb's two curves (as quadratic splines through 3-5 values near 1 for each
axis) and their motion (the method's families). An instance samples each curve over its own
stretch of the spline, multiplies every limb by smooth random curves
(``octopus_perturbation``), joins the limbs at a shared joint and draws the clip: points, a
blur and a threshold (which may vary over time) make the stroke; then, each by chance,
polygons embedded along the limbs, regions recoloured, and an outline only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numba as nb
import numpy as np

from .generator import HEAD, SCREEN, SIZE, TAIL, Drawn, Made
from .keys import UNIT, key
from .motion import sample_weights
from .paint import blur, bounds, box_radii, outline, paint_shapes
from .rng import stream
from .spline import random_factor, spline_at

LIMBS = (3, 5)
KNOTS = (3, 5)  # values a curve's spline passes through, drawn in 0.85..1.15
POINTS = 512  # points along a limb
REFERENCE_PX = 256
P_EMBED, P_RECOLOR, P_VARYING, P_OUTLINE = 0.8, 0.8, 0.3, 0.4

KEYS = (
    key("octopus_perturbation", 0.03, "amplitude of an instance's smooth multiplicative "
        "change of each limb", "octopus", UNIT),
)


@dataclass(frozen=True)
class Limbs:
    """A class: knots [2 L, 2, 5] float64 (per limb's start and end curve, per axis, up to 5
    spline values; NaN past ``counts``), counts [2 L, 2] int64, motion u [T, L] and its
    families (L names)."""

    knots: np.ndarray
    counts: np.ndarray
    u: np.ndarray
    motion: tuple[str, ...]

    @property
    def n_limbs(self) -> int:
        return int(self.u.shape[1])


@dataclass(frozen=True)
class Stroke:
    """A clip to draw: pixels [T, P, 2] int64 (row, column) of the joined limbs; the stroke's
    blur sigmas (x, y), thresholds [T] (of a 0-255 point), colour [3] uint8; polygons embedded
    in the stroke's colour and recolouring polygons as (point index [K], sides [K], rotation
    [K], radius [K], colours [K, 3]); outline rectangle sizes kh, kw [T] (None: no outline)."""

    pixels: np.ndarray
    sigma: tuple[float, float]
    threshold: np.ndarray
    color: np.ndarray
    embed: tuple | None
    recolor: tuple | None
    outline: tuple[np.ndarray, np.ndarray] | None


def _limbs(cfg: Any, rng: np.random.Generator) -> Limbs:
    t = int(rng.integers(cfg.frame_range[0], cfg.frame_range[1] + 1))
    n = int(rng.integers(LIMBS[0], LIMBS[1] + 1))
    counts = rng.integers(KNOTS[0], KNOTS[1] + 1, (2 * n, 2))
    knots = np.full((2 * n, 2, KNOTS[1]), np.nan)
    for i, j in np.ndindex(2 * n, 2):
        knots[i, j, : counts[i, j]] = rng.uniform(0.85, 1.15, counts[i, j])
    u, motion = sample_weights(t, n, rng)
    return Limbs(knots, counts, u, motion)


@lru_cache(maxsize=4096)
def class_for(cfg: Any, class_id: int) -> Drawn:
    return Drawn(_limbs(cfg, stream(cfg.seed, "class", class_id)))


def _curves(c: Limbs, rng: np.random.Generator) -> np.ndarray:
    """[2 L, POINTS, 2]: each curve sampled over its own stretch U(0, 0.1)..U(0.4, 0.6)."""
    out = np.empty((2 * c.n_limbs, POINTS, 2))
    for i, j in np.ndindex(2 * c.n_limbs, 2):
        stretch = np.linspace(rng.uniform(0.0, 0.1), rng.uniform(0.4, 0.6), POINTS)
        out[i, :, j] = spline_at(c.knots[i, j, : c.counts[i, j]], stretch)
    return out


def _pose(c: Limbs, rng: np.random.Generator, eps: float | None) -> np.ndarray:
    """[T, L POINTS, 2]: every limb blended between its curves by u, perturbed (eps: None for
    none), and moved so that its joint meets the centre limb's."""
    curves = _curves(c, rng)
    t, n = c.u.shape
    u = c.u[:, :, None, None]  # [T, L, 1, 1]
    limbs = (1.0 - u) * curves[0::2][None] + u * curves[1::2][None]  # [T, L, P, 2]
    if eps is not None:
        factors = np.stack([[random_factor(rng, t, eps) for _ in range(2)] for _ in range(n)])
        limbs *= factors.transpose(2, 0, 1)[:, :, None, :]  # [T, L, 1, 2]
    centre = int(rng.integers(n))
    joints = np.clip((rng.uniform(0.0, 0.15, n) * POINTS).astype(np.int64), 0, POINTS - 1)
    limbs += (limbs[:, centre, joints[centre]][:, None] -
              limbs[:, np.arange(n), joints][:, :, :])[:, :, None, :]
    return limbs.reshape(t, n * POINTS, 2)


def _pixels(pose: np.ndarray, size: int) -> np.ndarray:
    """[T, P, 2] float64 -> int64 pixel positions: every frame and point fitted to the canvas
    together, with a 1% margin."""
    lo, hi = bounds(pose)
    lo, hi = lo - 0.01 * np.abs(lo), hi + 0.01 * np.abs(hi)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip(((pose - lo) * (size / span)).astype(np.int64), 0, size - 1)


def _polygons(rng: np.random.Generator, count: tuple[int, int], radius: tuple[int, int],
              points: int, scale: float, colored: bool) -> tuple:
    k = int(rng.integers(count[0], count[1] + 1))
    sides = rng.integers(2, 8, k).astype(np.int64)  # 2: a circle
    rotation = np.deg2rad(rng.integers(0, 360, k)).astype(np.float64)
    at = rng.integers(0, points, k)
    size = np.maximum(np.round(rng.integers(radius[0], radius[1] + 1, k) * scale), 1.0)
    colors = rng.integers(0, 256, (k, 3)).astype(np.uint8) if colored else None
    return at, sides, rotation, size, colors


def _varying(rng: np.random.Generator, t: int, lo: int, hi: int) -> np.ndarray:
    """[T] int64: a constant in lo..hi, or (probability P_VARYING) a ramp between two."""
    if rng.random() < P_VARYING:
        ends = rng.integers(lo, hi + 1, 2)
        return np.round(np.linspace(ends[0], ends[1], t)).astype(np.int64)
    return np.full(t, int(rng.integers(lo, hi + 1)), np.int64)


def _stroke(cfg: Any, c: Limbs, rng: np.random.Generator, eps: float | None) -> Stroke:
    size = cfg.resolution
    scale = size / REFERENCE_PX
    pixels = _pixels(_pose(c, rng, eps), size)
    t, p = pixels.shape[:2]
    color = rng.integers(0, 256, 3).astype(np.uint8)
    sigma = tuple(float(v) * scale for v in rng.integers(3, 9, 2))
    threshold = _varying(rng, t, 3, 9).astype(np.float64)
    embed = _polygons(rng, (1, 3), (18, 27), p, scale, False) if rng.random() < P_EMBED \
        else None
    recolor = _polygons(rng, (2, 5), (18, 31), p, scale, True) if rng.random() < P_RECOLOR \
        else None
    edges = (_varying(rng, t, 2, 6), _varying(rng, t, 2, 6)) if rng.random() < P_OUTLINE \
        else None
    return Stroke(pixels, sigma, threshold, color, embed, recolor, edges)


@nb.njit(parallel=True, cache=True, nogil=True)
def _splat(pixels, canvas):
    """canvas [T, H, W] float32 = 255 at every point of pixels [T, P, 2] (row, column)."""
    for t in nb.prange(pixels.shape[0]):
        for i in range(pixels.shape[1]):
            canvas[t, pixels[t, i, 0], pixels[t, i, 1]] = 255.0


@nb.njit(parallel=True, cache=True, nogil=True)
def _threshold(canvas, threshold, color, out):
    """out [T, H, W, 3] uint8 = color where canvas [T, H, W] > threshold [T], else black."""
    t_n, h, w = canvas.shape
    for row in nb.prange(t_n * h):
        t, y = row // h, row % h
        for x in range(w):
            if canvas[t, y, x] > threshold[t]:
                out[t, y, x, 0] = color[0]
                out[t, y, x, 1] = color[1]
                out[t, y, x, 2] = color[2]


def _paint(frames: np.ndarray, pixels: np.ndarray, polygons: tuple, colors: np.ndarray,
           only_on: bool) -> None:
    at, sides, rotation, size, _ = polygons
    centers = pixels[:, at][..., ::-1].astype(np.float64) + 0.5  # (x, y) of (row, column)
    paint_shapes(frames, centers, size, sides, rotation, colors, only_on)


def draw(stroke: Stroke, size: int) -> np.ndarray:
    """The clip of ``stroke``: [T, size, size, 3] uint8."""
    t = stroke.pixels.shape[0]
    canvas = np.zeros((t, size, size), np.float32)
    _splat(stroke.pixels, canvas)
    blur(canvas, box_radii(stroke.sigma[0]), box_radii(stroke.sigma[1]))
    frames = np.zeros((t, size, size, 3), np.uint8)
    _threshold(canvas, stroke.threshold, stroke.color, frames)
    if stroke.embed is not None:
        k = stroke.embed[0].size
        _paint(frames, stroke.pixels, stroke.embed, np.tile(stroke.color, (k, 1)), False)
    if stroke.recolor is not None:
        _paint(frames, stroke.pixels, stroke.recolor, stroke.recolor[4], True)
    if stroke.outline is not None:
        outline(frames, *stroke.outline)
    return frames


class Octopus:
    """Octopus clips (RGB)."""

    name = "octopus"
    title = "Octopus video data set"
    about = ("Every clip is 3-5 moving limbs joined at one point, drawn as thick strokes, "
             "sometimes with embedded polygons, recoloured regions or as an outline")
    keys = KEYS
    channels = 3
    gpu = False
    screened = False
    tally = "n_limbs"
    columns = (*HEAD, ("n_limbs", "int8"), ("motion_curves", "string"),
               ("embedded", "int8"), ("recolored", "int8"), ("outline", "bool"), *SIZE,
               *SCREEN, *TAIL)
    class_columns = (("class_id", "int32"), ("attempt", "int16"), ("defect", "string"),
                     ("frames", "int16"), ("n_limbs", "int8"), ("motion_curves", "string"),
                     ("knots", "float64[]"), ("knot_counts", "int64[]"))

    def check(self, cfg: Any) -> str | None:
        if cfg.color:
            return "color=true: octopus clips are RGB already; leave color false"
        return None

    def class_for(self, cfg: Any, class_id: int) -> Drawn:
        return class_for(cfg, class_id)

    def class_row(self, cfg: Any, class_id: int) -> dict[str, Any]:
        """knots: [2 limbs, 2 axes, 5] flattened, NaN past knot_counts ([2 limbs, 2])."""
        c: Limbs = class_for(cfg, class_id).params
        return {"class_id": class_id, "attempt": 0, "defect": None, "frames": c.u.shape[0],
                "n_limbs": c.n_limbs, "motion_curves": ",".join(c.motion),
                "knots": c.knots.ravel().tolist(), "knot_counts": c.counts.ravel().tolist()}

    def draw(self, cfg: Any, specs: list, renderer: Any = None) -> list[Drawn]:
        out = []
        for s in specs:
            if s.class_id is None:  # a fresh class, as drawn, unperturbed
                rng = stream(cfg.seed, "unlabeled", s.index)
                c, eps = _limbs(cfg, rng), None
            else:
                rng = stream(cfg.seed, "instance", s.index)
                c, eps = class_for(cfg, s.class_id).params, cfg.octopus_perturbation
            out.append(Drawn((c, _stroke(cfg, c, rng, eps))))
        return out

    def render(self, cfg: Any, specs: list, drawn: list[Drawn], renderer: Any = None
               ) -> list[Made]:
        made = []
        for d in drawn:
            c, stroke = d.params
            made.append(Made(draw(stroke, cfg.resolution), {
                "n_limbs": c.n_limbs, "motion_curves": ",".join(c.motion),
                "embedded": 0 if stroke.embed is None else int(stroke.embed[0].size),
                "recolored": 0 if stroke.recolor is None else int(stroke.recolor[0].size),
                "outline": stroke.outline is not None,
            }))
        return made

    def seconds_per_frame(self, cfg: Any) -> float:
        return 4e-8 * cfg.resolution**2 + 2e-4


GENERATOR = Octopus()

"""The fractal generator: IFS classes with motion, rendered with the chaos game (the method's
own clips; docs/method.md).

A class is a screened IFS with motion; an instance perturbs its per-frame coefficients; an
unlabeled clip is a fresh class. Degenerate draws (empty, saturated, static, escaping) are
redrawn on keyed streams, so screening never depends on how work is split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from .generator import HEAD, SCREEN, SIZE, TAIL, Drawn, Made
from .ifs import IFSClass, class_coefficients, sample_class, sample_fractaldb_class
from .instance import fractaldb_instance, sample_perturbation, svd_instance
from .keys import UNIT, at_least, in_range, key, settings_of
from .quality import Thresholds, defect, screen_many
from .render import Renderer, RenderJob, RenderSettings
from .rng import seed64, stream
from .variations import DEFAULT_NONLINEAR, NAMES, VARIATIONS

MAX_POINTS = 2**31 - 1  # points a frame (and steps a chain): int32 counts and kernel arguments
NONLINEAR = [k for k in VARIATIONS if k != "linear"]

KEYS = (
    key("chains", 32, "chaos-game chains per frame", "render", at_least(1)),
    key("iterations", 2000, "chaos-game steps per chain", "render", in_range(1, MAX_POINTS)),
    key("burn_in", 100, "steps per chain discarded before counting", "render", at_least(0)),
    key("coarse_resolution", 128, "framing render size", "render", in_range(8, 1024)),
    key("coarse_points", 3000, "framing points per frame", "render", in_range(10, 10**9)),
    key("framing_keep", 0.9, "fraction of occupied pixels each frame's box keeps", "render",
        ((lambda v: 0 < v <= 1), "in (0, 1]")),
    key("framing_pad", 0.1, "padding of the framing box, per side, as a fraction of its size",
        "render", UNIT),
    key("variations", DEFAULT_NONLINEAR, "comma-separated non-linear flame variations a class "
        "may use", "classes", ((lambda v: all(n in NONLINEAR for n in v)),
                               "known non-linear variations: " + ", ".join(NONLINEAR))),
    key("linear_fraction", 0.5, "fraction of classes that stay linear", "classes", UNIT),
    key("linear_motion_only", False, "force linear interpolation between the endpoints",
        "classes"),
    key("instance_scale", 0.4, "amplitude of an instance's multiplicative perturbation",
        "classes", ((lambda v: 0 <= v < 1), "in [0, 1)")),
    key("instance_offset", 0.2, "amplitude of an instance's additive perturbation", "classes",
        UNIT),
    key("reject_retries", 10, "redraws of a degenerate class or instance (0: no screening)",
        "screen", in_range(0, 100)),
    key("reject_min_coverage", 0.04, "screen: reject below this covered fraction (64 px "
        "render)", "screen", UNIT),
    key("reject_max_coverage", 0.85, "screen: reject above this covered fraction (saturated)",
        "screen", UNIT),
    key("reject_min_motion", 0.004, "screen: reject below this mean frame difference "
        "(static)", "screen", UNIT),
    key("reject_max_escaped", 0.05, "screen: reject above this fraction of escaping "
        "chaos-game steps", "screen", UNIT),
    key("image_class", "svd", "media=image: a class as the method draws it (svd: 3-8 maps by "
        "their singular values) or as FractalDB does (fractaldb: 2-7 maps, coefficients "
        "U(-1, 1))", "classes", ((lambda v: v in ("svd", "fractaldb")), "svd or fractaldb")),
    key("image_instance", "svd", "media=image: an instance perturbs its class as Anderson & "
        "Farrell do (svd: one map's parameter in SVD space) or as FractalDB does (fractaldb: "
        "one coefficient of every map scaled, and a flip)", "classes",
        ((lambda v: v in ("svd", "fractaldb")), "svd or fractaldb")),
    key("svd_jitter", 0.2, "media=image, svd instances: largest change of the parameter",
        "classes", ((lambda v: 0 <= v <= 1), "in [0, 1]")),
    key("fractaldb_weight", 0.1, "media=image, fractaldb instances: step of the scale "
        "factors 1 + k x weight, k in -2..2", "classes", ((lambda v: 0 <= v < 0.5),
                                                          "in [0, 0.5)")),
)
STILL_KEYS = ("image_class", "image_instance", "svd_jitter", "fractaldb_weight")  # stills only

# Rules between the keys: (holds, message).
RULES: list[Callable[[Any], str | None]] = [
    lambda c: None if c.burn_in < c.iterations else
    f"burn_in={c.burn_in}: must be in 0..iterations-1 ({c.iterations - 1})",
    lambda c: None if (p := c.chains * (c.iterations - c.burn_in)) <= MAX_POINTS else
    f"chains x (iterations - burn_in) = {p:,} points a frame: at most {MAX_POINTS:,} "
    "(32-bit counts)",
    lambda c: None if c.variations or c.linear_fraction == 1.0 else
    "variations is empty: set linear_fraction=1 for linear-only classes",
    lambda c: None if c.reject_min_coverage <= c.reject_max_coverage else
    f"reject_min_coverage={c.reject_min_coverage}, reject_max_coverage="
    f"{c.reject_max_coverage}: need min <= max",
    # its maps need not contract, which the SVD perturbation (and its clipping) assumes
    lambda c: None if c.image_class != "fractaldb" or c.image_instance == "fractaldb" else
    "image_class=fractaldb: needs image_instance=fractaldb",
]


def _still(cfg: Any) -> bool:
    """Whether ``cfg`` makes still images (a config without the key makes video)."""
    return getattr(cfg, "still", False)


@dataclass(frozen=True)
class _Draw:
    """A draw to screen: ``make(rng) -> (IFSClass, coefs [T, N, 6])`` on the stream of
    (seed, purpose, key, attempt)."""

    purpose: str
    key: int
    make: Callable[[np.random.Generator], tuple[IFSClass, np.ndarray]]


def _screen_draws(cfg: Any, draws: list[_Draw], renderer: Renderer | None = None) -> list[Drawn]:
    """Deterministic rejection sampling: attempts 0, 1, ... of each draw until its screen
    passes, at most ``reject_retries`` redraws; the last is kept if none passes (and its defect
    recorded). Each round screens every draw still open in one render call on ``renderer``
    (exact, or the CPU's); a draw's attempts depend on nothing else, so the result is the same
    as screening draws one at a time. Drawn.params: (IFSClass, coefs [T, N, 6] float64)."""
    results: list[Drawn | None] = [None] * len(draws)
    open_ = list(range(len(draws)))
    attempt = 0
    thresholds = settings_of(cfg, Thresholds)
    if _still(cfg):  # a still has no motion to screen
        thresholds = replace(thresholds, reject_min_motion=0.0)
    while open_:
        made = [draws[i].make(stream(cfg.seed, draws[i].purpose, draws[i].key, attempt))
                for i in open_]
        if cfg.reject_retries == 0:
            for i, pair in zip(open_, made):
                results[i] = Drawn(pair, attempt, None)
            break
        jobs = [RenderJob(coefs, cls.variation, seed64(cfg.seed, draws[i].purpose, draws[i].key,
                                                       attempt))
                for i, (cls, coefs) in zip(open_, made)]
        still = []
        for i, pair, figures in zip(open_, made, screen_many(jobs, renderer, _still(cfg))):
            why = defect(figures, thresholds)
            if why is None or attempt == cfg.reject_retries:
                results[i] = Drawn(pair, attempt, why)
            else:
                still.append(i)
        open_ = still
        attempt += 1
    return results


def _class_maker(cfg: Any):
    if _still(cfg) and cfg.image_class == "fractaldb":
        return sample_fractaldb_class

    def make(rng: np.random.Generator) -> tuple[IFSClass, np.ndarray]:
        cls = sample_class(
            rng, frames=cfg.frame_range, variations=cfg.variations,
            linear_fraction=cfg.linear_fraction, linear_motion_only=cfg.linear_motion_only,
        )
        return cls, class_coefficients(cls)

    return make


def draw_class(cfg: Any, purpose: str, key: int) -> Drawn:
    """A screened IFS class (``purpose`` "class" for labeled classes, "unlabeled" per clip)."""
    return _screen_draws(cfg, [_Draw(purpose, key, _class_maker(cfg))])[0]


@lru_cache(maxsize=4096)
def class_for(cfg: Any, class_id: int) -> Drawn:
    """The IFS-with-motion of a labeled class (cached: a shard holds many clips per class)."""
    return draw_class(cfg, "class", class_id)


def draw_instances(cfg: Any, specs: list, renderer: Renderer | None = None) -> list[Drawn]:
    """The clips' IFS, screened together on ``renderer``: a labeled clip's class perturbed per
    instance, screened like classes (a clip with no passing perturbation uses its class's own
    parameters: attempt -1); an unlabeled clip's own fresh class."""

    def perturb(base: Drawn):
        cls, coefs = base.params

        def make(rng: np.random.Generator) -> tuple[IFSClass, np.ndarray]:
            if _still(cfg) and cfg.image_instance == "fractaldb":
                return cls, fractaldb_instance(coefs, rng, cfg.fractaldb_weight)
            if _still(cfg):
                moved = svd_instance(cls, rng, cfg.svd_jitter)
                return moved, class_coefficients(moved)
            pert = sample_perturbation(cls.frames, cls.n_maps, rng, cfg.instance_scale,
                                       cfg.instance_offset)
            return cls, pert.apply(coefs)

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
                drawn[i] = Drawn(base.params, -1, None)
    return drawn


def render_job(cfg: Any, spec: Any, drawn: Drawn) -> RenderJob:
    cls, coefs = drawn.params
    return RenderJob(coefs, cls.variation, seed64(cfg.seed, "render", spec.index))


class Fractal:
    """Moving IFS fractals (the default generator)."""

    name = "fractal"
    title = "Fractal video data set"
    about = "Every clip is a moving IFS fractal rendered with the chaos game"
    keys = KEYS
    channels = 1
    gpu = True
    screened = True
    tally = "variation"
    columns = (*HEAD, ("render_seed", "uint64"), ("variation", "string"), ("n_maps", "int8"),
               ("motion_curves", "string"), ("constant_shift", "bool"), *SIZE,
               ("window", "float64[4]"), ("escaped", "float64"), *SCREEN, *TAIL)
    class_columns = (
        ("class_id", "int32"), ("attempt", "int16"), ("defect", "string"),
        ("variation", "string"), ("n_maps", "int8"), ("frames", "int16"),
        ("motion_curves", "string"), ("constant_shift", "bool"), ("theta", "float64[]"),
        ("phi", "float64[]"), ("singular_values", "float64[]"), ("shift", "float64[]"),
        ("flips", "float64[]"))

    def check(self, cfg: Any) -> str | None:
        return next((p for rule in RULES if (p := rule(cfg))), None)

    def class_for(self, cfg: Any, class_id: int) -> Drawn:
        return class_for(cfg, class_id)

    def class_row(self, cfg: Any, class_id: int) -> dict[str, Any]:
        """Screening outcome, variation, map count, frames, motion curves and endpoint
        parameters (flattened: theta, phi [2, N]; singular values, shift [2, N, 2]; flips
        [N, 4])."""
        drawn = class_for(cfg, class_id)
        c = drawn.params[0]
        return {
            "class_id": class_id, "attempt": drawn.attempt, "defect": drawn.defect,
            "variation": NAMES[c.variation], "n_maps": c.n_maps, "frames": c.frames,
            "motion_curves": ",".join(c.motion), "constant_shift": c.constant_shift,
            "theta": c.theta.ravel().tolist(), "phi": c.phi.ravel().tolist(),
            "singular_values": c.sv.ravel().tolist(), "shift": c.shift.ravel().tolist(),
            "flips": c.flips.ravel().tolist(),
        }

    def draw(self, cfg: Any, specs: list, renderer: Renderer | None) -> list[Drawn]:
        # screen on the renderer only where its frames equal the CPU's, so the draws (and the
        # data set) do not depend on the backend
        return draw_instances(cfg, specs, renderer if renderer and renderer.exact else None)

    def render(self, cfg: Any, specs: list, drawn: list[Drawn], renderer: Renderer
               ) -> list[Made]:
        jobs = [render_job(cfg, s, d) for s, d in zip(specs, drawn)]
        out = []
        for job, d, r in zip(jobs, drawn, renderer.render(jobs, settings_of(cfg,
                                                                             RenderSettings))):
            cls = d.params[0]
            out.append(Made(r.frames, {
                "render_seed": str(job.seed),  # text: JSON readers choke on ints beyond int64
                "variation": NAMES[cls.variation],
                "n_maps": cls.n_maps,
                "motion_curves": ",".join(cls.motion),
                "constant_shift": cls.constant_shift,
                "window": [round(float(v), 6) for v in r.window],
                "escaped": round(r.escaped, 6),
            }))
        return out

    def seconds_per_frame(self, cfg: Any) -> float:
        """The chaos game at 200 M points/s (below the paper mix on an AVX2 core), and
        screening and framing at 25 ms a 19-frame clip, as `make bench` measured, rounded
        so the estimate errs high."""
        return settings_of(cfg, RenderSettings).points_per_frame / 200e6 + 0.025 / 19


GENERATOR = Fractal()

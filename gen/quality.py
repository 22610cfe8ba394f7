"""Quality figures of clips, and the cheap screen that rejects degenerate fractals.

A degenerate clip is near-empty, saturated, static, or escaping to infinity; it wastes compute
and teaches a model nothing. ``screen`` renders a candidate at low resolution (every frame, a
few thousand points each, about 1% of a paper-settings render) and measures the same figures
the data set records, so one set of thresholds serves both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba as nb
import numpy as np

from .arrays import to_host
from .render import CpuRenderer, Renderer, RenderJob, RenderSettings

COVERAGE_LEVEL = 0.1  # a pixel counts as covered above 10% of full scale
# A finished clip counts as degenerate outside these (the data-quality issue's definition).
DEGENERATE_COVERAGE = (0.02, 0.9)
DEGENERATE_MOTION = 0.002

# Low-resolution render for screening: 64 px, 8 chains x 1,000 steps per frame.
SCREEN_SETTINGS = RenderSettings(
    resolution=64, chains=8, iterations=1000, burn_in=50, coarse_resolution=64, coarse_points=1000
)
# A still's one frame: about as many points, on 64 chains, which fill the chaos kernel's
# lanes where 8 leave them mostly idle (half the time).
STILL_SCREEN_SETTINGS = replace(SCREEN_SETTINGS, chains=64, iterations=145, burn_in=20)


@dataclass(frozen=True)
class Thresholds:
    """A candidate is rejected below ``reject_min_coverage`` or above ``reject_max_coverage``
    (fraction of the canvas covered), below ``reject_min_motion`` (mean frame difference,
    0-1), or when more than ``reject_max_escaped`` of its chaos-game steps escape to infinity
    or NaN (a chain restarts beyond 1e10, so a diverging map shows as a steady few percent of
    escaping steps)."""

    reject_min_coverage: float
    reject_max_coverage: float
    reject_min_motion: float
    reject_max_escaped: float


def quality(frames: np.ndarray) -> dict[str, float]:
    """Quality figures of a clip, frames [T, H, W] or [T, H, W, 3] uint8 (RGB: brightest channel).

    coverage: fraction of pixels above 10% of full scale, mean over frames;
    motion: mean absolute difference of consecutive frames, on a 0-1 scale.
    Counted in integers in one numba pass, so the figures are numpy's means exactly.
    """
    t, h, w = frames.shape[:3]
    frames = np.ascontiguousarray(frames)
    if frames.ndim == 4:
        grey = np.empty((t, h, w), np.uint8)
        _brightest(frames.reshape(-1, 3), grey.reshape(-1))
        frames = grey
    covered, moved = _counts(frames, np.uint8(int(255 * COVERAGE_LEVEL)))
    coverage = covered / (t * h * w)
    motion = moved / ((t - 1) * h * w) / 255.0 if t > 1 else 0.0
    return {"coverage": round(coverage, 6), "motion": round(motion, 6)}


@nb.njit(cache=True, nogil=True)
def _brightest(rgb, out):  # pragma: no cover (numba)
    # rgb [P, 3] uint8 -> out [P] uint8, the largest channel of each pixel
    for i in range(out.shape[0]):
        out[i] = max(max(rgb[i, 0], rgb[i, 1]), rgb[i, 2])


@nb.njit(cache=True, nogil=True)
def _counts(frames, level):  # pragma: no cover (numba)
    # frames [T, H, W] uint8 -> (values above level, the sum of |frame t + 1 - frame t|);
    # each row's sums in int32 (they fit), so the loops vectorize
    t_n, h, w = frames.shape
    covered, moved = 0, 0
    for t in range(t_n):
        for y in range(h):
            row = frames[t, y]
            count = np.int32(0)
            for i in range(w):
                count += np.int32(row[i] > level)
            covered += count
            if t + 1 < t_n:
                after = frames[t + 1, y]
                total = np.int32(0)
                for i in range(w):
                    total += abs(np.int32(after[i]) - np.int32(row[i]))
                moved += total
    return covered, moved


def is_degenerate(coverage: np.ndarray, motion: np.ndarray, still: np.ndarray | bool = False
                  ) -> np.ndarray:
    """[N] bool: clips (by their recorded figures) that are near-empty, saturated or static;
    a still (``still``, per clip or for all) is never static."""
    lo, hi = DEGENERATE_COVERAGE
    return (coverage < lo) | (coverage > hi) | ((motion < DEGENERATE_MOTION) & ~np.asarray(still))


def screen(coefs: np.ndarray, variation: int, seed: int) -> dict[str, float]:
    """Screening figures of a candidate, coefs [T, N, 6] float64: coverage, motion and escaped
    (fraction of steps that escaped), from a low-resolution render of every frame."""
    return screen_many([RenderJob(coefs, variation, seed)])[0]


def screen_many(candidates: list[RenderJob], renderer: Renderer | None = None,
                still: bool = False) -> list[dict]:
    """``screen`` of many candidates in one render call, on ``renderer`` (the CPU's by default;
    an exact renderer, whose frames equal the CPU's, gives the same figures); ``still``:
    one-frame candidates, screened with STILL_SCREEN_SETTINGS."""
    settings = STILL_SCREEN_SETTINGS if still else SCREEN_SETTINGS
    rendered = (renderer or CpuRenderer()).render(candidates, settings)
    return [{**quality(to_host(r.frames)), "escaped": round(r.escaped, 6)} for r in rendered]


def defect(figures: dict[str, float], th: Thresholds) -> str | None:
    """Why a candidate is degenerate ("escaping", "empty", "saturated", "static"), or None."""
    if figures["escaped"] > th.reject_max_escaped:
        return "escaping"
    if figures["coverage"] < th.reject_min_coverage:
        return "empty"
    if figures["coverage"] > th.reject_max_coverage:
        return "saturated"
    if figures["motion"] < th.reject_min_motion:
        return "static"
    return None

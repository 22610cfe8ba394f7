"""The renderer interface, and its CPU (numba) implementation.

A renderer turns a batch of clips' coefficients into uint8 frames:
``render(jobs, settings) -> [Rendered]``. Batching many clips per call keeps the parallel
region coarse (one per batch). The GPU backend implements the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .arrays import to_host
from .chaos import chaos_histograms
from .framing import clip_window
from .ifs import MAX_MAPS, map_probabilities
from .tonemap import tone_map

COARSE_CHAINS = 10
COARSE_BURN = 20
# Counts a CPU full pass holds at once (128 MB of int32): one pass for a batch of 8 clips up to
# 512 px, whole clips a pass above, so a worker's memory stays bounded at large resolutions.
CPU_PASS_PIXELS = 32 * 2**20


@dataclass(frozen=True)
class RenderSettings:
    """Chaos-game and framing settings (the paper's: 256 px, 128 chains x 7,500, burn-in 200)."""

    resolution: int = 256
    chains: int = 128
    iterations: int = 7500
    burn_in: int = 200
    coarse_resolution: int = 128
    coarse_points: int = 3000
    window: float = 6.0
    framing_keep: float = 0.9
    framing_pad: float = 0.1

    @property
    def points_per_frame(self) -> int:
        return self.chains * (self.iterations - self.burn_in)


@dataclass(frozen=True)
class RenderJob:
    """One clip to render: coefs [T, N, 6] float64, flame variation id, 64-bit RNG seed."""

    coefs: np.ndarray
    variation: int
    seed: int

    def __post_init__(self):
        # the kernels hold a system's maps in one 8-lane register (lanes.py)
        shape = np.shape(self.coefs)
        if len(shape) != 3 or shape[2] != 6 or not 1 <= shape[1] <= MAX_MAPS:
            raise ValueError(f"RenderJob coefs must be [frames, maps, 6] with 1..{MAX_MAPS} "
                             f"maps, got shape {shape}")


@dataclass(frozen=True)
class Rendered:
    """frames [T, H, W] uint8; window (x_min, x_max, y_min, y_max) mapped onto the canvas;
    escaped: fraction of chaos-game steps that escaped to infinity or NaN and restarted."""

    frames: np.ndarray
    window: tuple[float, float, float, float]
    escaped: float


class Renderer(Protocol):
    """``exact``: its frames equal the CPU renderer's bit for bit (so it may also screen)."""

    name: str
    exact: bool

    def render(self, jobs: list[RenderJob], settings: RenderSettings) -> list[Rendered]: ...


def _stack_jobs(jobs: list[RenderJob]) -> tuple[np.ndarray, ...]:
    """Frames of all jobs as one batch: coefs [F, Nmax, 6] float32 (what the chaos game
    computes in), probs [F, Nmax] float64, nmaps [F], vids [F], seeds [F]. Clips with fewer
    maps are padded (and told their own map count, so a clip renders the same whatever it is
    batched with)."""
    n_max = max(j.coefs.shape[1] for j in jobs)
    total = sum(j.coefs.shape[0] for j in jobs)
    coefs = np.zeros((total, n_max, 6), np.float32)
    probs = np.zeros((total, n_max))
    nmaps = np.empty(total, np.int64)
    vids = np.empty(total, np.int64)
    seeds = np.empty(total, np.uint64)
    at = 0
    for j in jobs:
        t, n, _ = j.coefs.shape
        coefs[at : at + t, :n] = j.coefs
        probs[at : at + t, :n] = map_probabilities(j.coefs)
        nmaps[at : at + t] = n
        vids[at : at + t] = j.variation
        seeds[at : at + t] = np.uint64(j.seed)
        at += t
    return coefs, probs, nmaps, vids, seeds


def _view(box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """[6] float32 (x_left, y_top, px/unit x, px/unit y, W, H) for a world box on a
    size x size canvas."""
    x_min, x_max, y_min, y_max = box
    return np.array(
        [x_min, y_max, size / (x_max - x_min), size / (y_max - y_min), size, size], np.float32
    )


def render_batch(jobs: list[RenderJob], settings: RenderSettings, histograms, xp,
                 pass_pixels: int | None = None) -> list[Rendered]:
    """The steps every backend shares, around its ``histograms``.

    histograms(coefs, probs, nmaps, vids, views, seeds, chains, iters, burn, splat) ->
    (counts [F, H * W] int32, escapes [F]) on the array module ``xp``; splat applies the 3x3
    box filter. A coarse pass frames each clip (from the occupancy of every frame, on the
    host), the full pass renders it, and the tone map turns counts into frames on ``xp``.
    pass_pixels: the most counts (pixels x frames) a full pass holds at once; None: no limit.
    """
    if not jobs:
        return []
    coefs, probs, nmaps, vids, seeds = _stack_jobs(jobs)
    nframes = coefs.shape[0]
    lengths = [j.coefs.shape[0] for j in jobs]
    starts = np.cumsum([0] + lengths)

    # Coarse pass: binary occupancy of every frame in the fixed window, for framing.
    c = settings.coarse_resolution
    w = settings.window
    coarse_views = np.tile(_view((-w, w, -w, w), c), (nframes, 1))
    coarse_iters = COARSE_BURN + -(-settings.coarse_points // COARSE_CHAINS)
    coarse, _ = histograms(coefs, probs, nmaps, vids, coarse_views, seeds, COARSE_CHAINS,
                           coarse_iters, COARSE_BURN, False)
    occupancy = to_host(coarse > 0).reshape(nframes, c, c)
    del coarse  # before the full pass allocates its counts (device memory on the GPU)
    boxes = [
        clip_window(occupancy[a:b], w, settings.framing_keep, settings.framing_pad)
        for a, b in zip(starts[:-1], starts[1:])
    ]

    # Full pass: every frame of a clip under its clip's window, in passes of whole clips
    # whose counts fit in pass_pixels (frames do not depend on what they are counted with).
    size = settings.resolution
    views = np.concatenate([np.tile(_view(b, size), (n, 1)) for b, n in zip(boxes, lengths)])
    steps = settings.chains * settings.iterations
    rendered = []
    for first, last in _passes(lengths, size * size, pass_pixels):
        a, b = starts[first], starts[last]
        counts, escapes = histograms(coefs[a:b], probs[a:b], nmaps[a:b], vids[a:b], views[a:b],
                                     seeds[a:b], settings.chains, settings.iterations,
                                     settings.burn_in, True)
        counts = counts.reshape(b - a, size, size)
        escapes = to_host(escapes)
        for clip in range(first, last):
            s, e = starts[clip] - a, starts[clip + 1] - a
            rendered.append(Rendered(tone_map(counts[s:e], xp), boxes[clip],
                                     float(escapes[s:e].sum()) / (steps * (e - s))))
        del counts  # before the next pass allocates its own
    return rendered


def _passes(lengths: list[int], pixels: int, pass_pixels: int | None) -> list[tuple[int, int]]:
    """Clips [first, last) of each full pass: as many whole clips (of ``lengths`` frames of
    ``pixels``) as fit in ``pass_pixels`` counts, at least one; None: all in one pass."""
    if pass_pixels is None:
        return [(0, len(lengths))]
    passes, first, held = [], 0, 0
    for clip, n in enumerate(lengths):
        if clip > first and held + n * pixels > pass_pixels:
            passes.append((first, clip))
            first, held = clip, 0
        held += n * pixels
    return passes + [(first, len(lengths))]


def _cpu_histograms(coefs, probs, nmaps, vids, views, seeds, chains, iters, burn, splat):
    counts = np.empty((coefs.shape[0], int(views[0, 5]) * int(views[0, 4])), np.int32)
    escapes = chaos_histograms(coefs, probs, nmaps, vids, views, seeds, chains, iters, burn,
                               splat, counts)
    return counts, escapes


class CpuRenderer:
    """numba chaos game; one parallel region per batch, frames spread over the threads."""

    name = "cpu"
    exact = True

    def render(self, jobs: list[RenderJob], settings: RenderSettings) -> list[Rendered]:
        return render_batch(jobs, settings, _cpu_histograms, np, CPU_PASS_PIXELS)

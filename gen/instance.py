"""Instances of a class: a smooth multiplicative perturbation plus an offset (docs/method.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spline import quadratic_spline


@dataclass(frozen=True)
class Perturbation:
    """scale [T, 6] (each coefficient track's multiplier, shared by all maps, in 1 +- amplitude);
    offset [N, 6] (a constant added per map and coefficient)."""

    scale: np.ndarray
    offset: np.ndarray

    def apply(self, coefs: np.ndarray) -> np.ndarray:
        """[T, N, 6] -> perturbed [T, N, 6] float64."""
        return coefs * self.scale[:, None, :] + self.offset[None, :, :]


def sample_perturbation(
    frames: int,
    n_maps: int,
    rng: np.random.Generator,
    scale_amplitude: float = 0.4,
    offset_amplitude: float = 0.2,
) -> Perturbation:
    """Per-clip perturbation: six smooth curves (quadratic splines through 4-7 random points)
    within ``1 +- scale_amplitude``, and offsets ``U(-offset_amplitude, offset_amplitude)``."""
    curves = []
    for _ in range(6):
        k = int(rng.integers(4, 8))
        knots = rng.uniform(1.0 - scale_amplitude, 1.0 + scale_amplitude, k)
        curves.append(quadratic_spline(knots, frames))
    scale = np.clip(np.stack(curves, axis=1), 1.0 - scale_amplitude, 1.0 + scale_amplitude)
    offset = rng.uniform(-offset_amplitude, offset_amplitude, (n_maps, 6))
    return Perturbation(scale, offset)

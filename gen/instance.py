"""Instances of a class: a smooth multiplicative perturbation plus an offset (docs/method.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

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


# -- instances of a still's class (media=image) ---------------------------------------------

# FractalDB's image flips, as changes of sign of the coefficients (a, b, c, d, e, f): the
# system conjugated by x -> -x draws the mirror image, and likewise for y.
FLIPS = np.array([[1, 1, 1, 1, 1, 1], [1, -1, -1, -1, 1, 1], [1, -1, 1, -1, 1, -1],
                  [1, 1, -1, 1, 1, -1]], np.float64)  # none, left-right, up-down, both


def fractaldb_instance(coefs: np.ndarray, rng: np.random.Generator, weight: float
                       ) -> np.ndarray:
    """FractalDB's instance of a class, coefs [T, N, 6] -> [T, N, 6] float64: one of the six
    coefficients of every map scaled by 1 + k * ``weight``, k in -2..2 (FractalDB-1k's
    25 weight rows at its 0.4), and one of its four flips."""
    j, k, flip = int(rng.integers(6)), int(rng.integers(-2, 3)), int(rng.integers(4))
    out = coefs * FLIPS[flip]
    out[..., j] *= 1.0 + k * weight
    return out


def svd_instance(cls, rng: np.random.Generator, jitter: float):
    """Anderson & Farrell's instance: one parameter of one map jittered in SVD space (a
    rotation angle by up to ``jitter`` x pi, a singular value or a shift by up to
    ``jitter``); the class with it changed (an IFSClass)."""
    k, which = int(rng.integers(cls.n_maps)), int(rng.integers(6))
    d = float(rng.uniform(-jitter, jitter))
    theta, phi, sv, shift = cls.theta.copy(), cls.phi.copy(), cls.sv.copy(), cls.shift.copy()
    if which == 0:
        theta[:, k] += d * np.pi
    elif which == 1:
        phi[:, k] += d * np.pi
    elif which in (2, 3):
        sv[:, k, which - 2] = np.clip(sv[:, k, which - 2] + d, 0.0, 1.0)
        sv[:, k] = np.sort(sv[:, k], axis=-1)[:, ::-1]  # s1 >= s2
    else:
        shift[:, k, which - 4] += d
    return replace(cls, theta=theta, phi=phi, sv=sv, shift=shift)

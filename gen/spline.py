"""Interpolating quadratic splines through evenly spaced values (smooth random curves)."""

from __future__ import annotations

import numpy as np


def quadratic_spline(values: np.ndarray, length: int) -> np.ndarray:
    """A C1 quadratic spline through ``values`` at even spacing, sampled at ``length`` points.

    values: [K] float64, K >= 2, placed at positions 0, 1/(K-1), ..., 1.
    Returns [length] float64 sampled at linspace(0, 1, length); passes through every value
    whose position falls on a sample.
    """
    v = np.asarray(values, dtype=np.float64)
    k = v.shape[0]
    if k < 2:
        raise ValueError(f"a spline needs at least 2 values, got {k}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    h = 1.0 / (k - 1)
    m, curv = _slopes(v, h)
    return _evaluate(v, m, curv, h, np.linspace(0.0, 1.0, length))


def _evaluate(v: np.ndarray, m: np.ndarray, curv: np.ndarray, h: float, t: np.ndarray
              ) -> np.ndarray:
    k = v.shape[0]
    seg = np.clip((t / h).astype(np.int64), 0, k - 2)
    dt = t - seg * h
    return v[seg] + m[seg] * dt + curv[seg] * dt * dt


def spline_at(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``quadratic_spline`` through ``values`` [K] evaluated at positions ``t`` (any shape,
    float64, in [0, 1]) rather than at even samples."""
    v = np.asarray(values, dtype=np.float64)
    k = v.shape[0]
    if k < 2:
        raise ValueError(f"a spline needs at least 2 values, got {k}")
    h = 1.0 / (k - 1)
    return _evaluate(v, *_slopes(v, h), h, np.asarray(t, dtype=np.float64))


def _slopes(v: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """(slopes at the knots m [K], curvature per segment [K-1]) of the least-curvature
    quadratic spline through ``v`` at spacing ``h``.

    A quadratic spline through K points has one free parameter (the first slope); it is chosen
    to minimise the summed squared curvature, which keeps the curve from oscillating."""
    k = v.shape[0]
    secant = np.diff(v) / h  # [K-1]
    # Slopes at knots: m[i+1] = 2*secant[i] - m[i], so m[i] = p[i] + sign[i] * m0.
    sign = (-1.0) ** np.arange(k)
    p = np.zeros(k)
    for i in range(k - 1):  # K <= ~10: a tiny recurrence, not a loop over pixels
        p[i + 1] = 2.0 * secant[i] - p[i]
    dp = np.diff(p)
    ds = np.diff(sign)
    m = p + sign * (-np.dot(dp, ds) / np.dot(ds, ds))
    return m, np.diff(m) / (2.0 * h)


def random_factor(rng: np.random.Generator, length: int, eps: float) -> np.ndarray:
    """[length] float64: a smooth random multiplier, a quadratic spline through 4-7 values
    drawn in 1 +- eps (the method's instance perturbation, for any generator)."""
    k = int(rng.integers(4, 8))
    return quadratic_spline(rng.uniform(1.0 - eps, 1.0 + eps, k), length)

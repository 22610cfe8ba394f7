"""Interpolating quadratic splines through evenly spaced values (smooth random curves)."""

from __future__ import annotations

import numpy as np


def quadratic_spline(values: np.ndarray, length: int) -> np.ndarray:
    """A C1 quadratic spline through ``values`` at even spacing, sampled at ``length`` points.

    values: [K] float64, K >= 2, placed at positions 0, 1/(K-1), ..., 1.
    Returns [length] float64 sampled at linspace(0, 1, length); passes through every value
    whose position falls on a sample.

    A quadratic spline through K points has one free parameter (the first slope); it is chosen
    to minimise the summed squared curvature, which keeps the curve from oscillating.
    """
    v = np.asarray(values, dtype=np.float64)
    k = v.shape[0]
    if k < 2:
        raise ValueError(f"a spline needs at least 2 values, got {k}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    h = 1.0 / (k - 1)
    secant = np.diff(v) / h  # [K-1]
    # Slopes at knots: m[i+1] = 2*secant[i] - m[i], so m[i] = p[i] + sign[i] * m0.
    sign = (-1.0) ** np.arange(k)
    p = np.zeros(k)
    for i in range(k - 1):  # K <= ~10: a tiny recurrence, not a loop over pixels
        p[i + 1] = 2.0 * secant[i] - p[i]
    # Curvature of segment i is (m[i+1]-m[i]) / (2h); minimise sum over m0 (least squares).
    dp = np.diff(p)
    ds = np.diff(sign)
    m0 = -np.dot(dp, ds) / np.dot(ds, ds)
    m = p + sign * m0
    curv = np.diff(m) / (2.0 * h)  # [K-1]

    t = np.linspace(0.0, 1.0, length)
    seg = np.minimum((t / h).astype(np.int64), k - 2)
    dt = t - seg * h
    return v[seg] + m[seg] * dt + curv[seg] * dt * dt

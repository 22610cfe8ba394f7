"""Sampling IFS classes with motion (docs/method.md) and their per-frame coefficients.

Coefficient layout, used everywhere downstream: ``[T, N, 6] float64`` holding, per frame and map,
``(a, b, c, d, e, f)`` of ``x' = a x + b y + c``, ``y' = d x + e y + f`` (the flame paper's order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .motion import sample_weights
from .variations import variation_id

MIN_MAPS, MAX_MAPS = 3, 8


@dataclass(frozen=True)
class IFSClass:
    """One IFS with motion: two endpoint parameter sets and per-frame interpolation weights.

    Arrays (N maps, T frames): theta, phi [2, N] (start, end); sv [2, N, 2] singular values
    (s1 >= s2); shift [2, N, 2]; flips [N, 4] in {-1, +1} (diag of D1, diag of D2);
    u [T, N] interpolation weights.
    """

    variation: int
    theta: np.ndarray
    phi: np.ndarray
    sv: np.ndarray
    shift: np.ndarray
    flips: np.ndarray
    u: np.ndarray
    motion: tuple[str, ...]
    constant_shift: bool

    @property
    def n_maps(self) -> int:
        return int(self.theta.shape[1])

    @property
    def frames(self) -> int:
        return int(self.u.shape[0])


def sigma_factor_values(n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Singular values by the sigma-factor rule (Anderson & Farrell 2022).

    Returns (sv [N, 2] float64 with s1 >= s2 in [0, 1], ordered by s1*s2 descending;
    alpha) where ``sum(s1 + 2 s2) == alpha`` and ``alpha ~ U(0.5(5+N), 0.5(6+N))``.
    """
    if not MIN_MAPS <= n <= MAX_MAPS:
        raise ValueError(f"map count must be in {MIN_MAPS}..{MAX_MAPS}, got {n}")
    alpha = float(rng.uniform(0.5 * (5 + n), 0.5 * (6 + n)))
    lo, hi = alpha - 3 * n + 3, alpha
    sv = np.empty((n, 2))
    # The budget is spent map by map, each draw keeping the rest feasible (N <= 8 steps).
    for i in range(n - 1):
        s1 = rng.uniform(max(0.0, lo / 3), min(1.0, hi))
        lo, hi = lo - s1, hi - s1
        s2 = rng.uniform(max(0.0, lo / 2), min(s1, hi / 2))
        lo, hi = lo - 2 * s2 + 3, hi - 2 * s2
        sv[i] = s1, s2
    s2 = rng.uniform(max(0.0, (hi - 1) / 2), hi / 3)
    sv[n - 1] = hi - 2 * s2, s2
    order = np.argsort(-(sv[:, 0] * sv[:, 1]), kind="stable")
    return sv[order], alpha


def sample_class(
    rng: np.random.Generator,
    frames: tuple[int, int] = (18, 20),
    variations: tuple[str, ...] = ("horseshoe", "bent", "fisheye", "popcorn", "cosine",
                                   "eyefish", "cylinder"),
    linear_fraction: float = 0.5,
    linear_motion_only: bool = False,
    p_constant_shift: float = 0.2,
) -> IFSClass:
    """Draw one IFS class with motion from ``rng``.

    frames: inclusive range of the clip length T; variations: the non-linear pool, one of which
    a class uses with probability ``1 - linear_fraction``.
    """
    n = int(rng.integers(MIN_MAPS, MAX_MAPS + 1))
    t = int(rng.integers(frames[0], frames[1] + 1))
    if variations and rng.uniform() >= linear_fraction:
        vid = variation_id(variations[int(rng.integers(0, len(variations)))])
    else:
        vid = 0
    theta0 = rng.uniform(0.0, 2 * np.pi, n)
    phi0 = rng.uniform(0.0, 2 * np.pi, n)
    theta = np.stack([theta0, theta0 + rng.uniform(-np.pi, np.pi, n)])
    phi = np.stack([phi0, phi0 + rng.uniform(-np.pi, np.pi, n)])
    sv = np.stack([sigma_factor_values(n, rng)[0], sigma_factor_values(n, rng)[0]])
    flips = rng.choice(np.array([-1.0, 1.0]), size=(n, 4))
    shift0 = rng.uniform(-1.0, 1.0, (n, 2))
    constant = bool(rng.uniform() < p_constant_shift)
    shift1 = shift0.copy() if constant else rng.uniform(-1.0, 1.0, (n, 2))
    u, kinds = sample_weights(t, n, rng, linear_only=linear_motion_only)
    return IFSClass(vid, theta, phi, sv, np.stack([shift0, shift1]), flips, u, kinds, constant)


def class_coefficients(cls: IFSClass) -> np.ndarray:
    """Per-frame affine coefficients of a class: [T, N, 6] float64 (a, b, c, d, e, f).

    ``A = R(theta) D1 diag(s1, s2) R(phi) D2``, every parameter interpolated with ``u``.
    Written out entry by entry (a 2x2 product is two terms), which costs a still's draw a
    third of the array calls; each entry is summed as ``(0 + p0) + p1``, the bits of the
    contraction it replaces (tests/test_sampling.py holds it to them).
    """
    u = cls.u  # [T, N]
    w = 1.0 - u

    def lerp(p: np.ndarray) -> np.ndarray:  # p: [2, N] -> [T, N]
        return w * p[0] + u * p[1]

    theta, phi = lerp(cls.theta), lerp(cls.phi)
    s1 = np.clip(lerp(cls.sv[..., 0]), 0.0, 1.0)  # oscillating curves may step slightly outside
    s2 = np.clip(lerp(cls.sv[..., 1]), 0.0, 1.0)
    f = cls.flips  # diag(D1) = f[:, 0:2], diag(D2) = f[:, 2:4]
    ct, st, cp, sp = np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)
    m00, m01 = (ct * f[:, 0]) * s1, (-st * f[:, 1]) * s2  # R(theta) D1 diag(s)
    m10, m11 = (st * f[:, 0]) * s1, (ct * f[:, 1]) * s2
    out = np.empty(u.shape + (6,))
    out[..., 0] = ((0.0 + m00 * cp) + m01 * sp) * f[:, 2]  # times R(phi) D2
    out[..., 1] = ((0.0 + m00 * -sp) + m01 * cp) * f[:, 3]
    out[..., 3] = ((0.0 + m10 * cp) + m11 * sp) * f[:, 2]
    out[..., 4] = ((0.0 + m10 * -sp) + m11 * cp) * f[:, 3]
    out[..., 2], out[..., 5] = lerp(cls.shift[..., 0]), lerp(cls.shift[..., 1])
    return out


def map_probabilities(coefs: np.ndarray) -> np.ndarray:
    """Map selection probabilities, proportional to |det A|: [T, N] float64, rows sum to 1.

    A frame whose maps are all singular falls back to uniform choice.
    """
    det = np.abs(coefs[..., 0] * coefs[..., 4] - coefs[..., 1] * coefs[..., 3])
    total = det.sum(axis=-1, keepdims=True)
    uniform = np.full_like(det, 1.0 / det.shape[-1])
    return np.where(total > 1e-300, det / np.where(total > 0, total, 1.0), uniform)


def sample_fractaldb_class(rng: np.random.Generator, maps: tuple[int, int] = (2, 7)
                           ) -> tuple[IFSClass, np.ndarray]:
    """A FractalDB category (Kataoka et al. 2020): 2-7 affine maps, every coefficient
    U(-1, 1), not forced to contract. Returns (the class, its coefficients [1, N, 6]
    float64): the class holds each map's SVD in this module's parametrisation (theta, phi,
    singular values, flips: A = R(theta) D1 diag(s) R(phi) D2), for classes.parquet, and the
    coefficients are the drawn ones (class_coefficients would clip singular values above 1)."""
    n = int(rng.integers(maps[0], maps[1] + 1))
    coefs = rng.uniform(-1.0, 1.0, (1, n, 6))
    a = coefs[0][:, [0, 1, 3, 4]].reshape(n, 2, 2)
    u, s, vt = np.linalg.svd(a)
    d1, d2 = np.linalg.det(u), np.linalg.det(vt)  # +-1: the reflections
    theta = np.arctan2(u[:, 1, 0], u[:, 0, 0])  # u = R(theta) diag(1, d1)
    phi = np.arctan2(vt[:, 1, 0], vt[:, 0, 0])  # vt = R(phi) diag(1, d2)
    flips = np.stack([np.ones(n), np.sign(d1), np.ones(n), np.sign(d2)], axis=1)
    shift = coefs[0][:, [2, 5]]
    cls = IFSClass(0, np.stack([theta, theta]), np.stack([phi, phi]), np.stack([s, s]),
                   np.stack([shift, shift]), flips, np.zeros((1, n)), ("linear",) * n, True)
    return cls, coefs

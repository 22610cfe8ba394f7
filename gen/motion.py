"""Motion of an IFS over a clip: per-frame interpolation weights ``u`` ([T, N] float64).

Frame t of map i uses ``p(t) = (1 - u[t, i]) * p_start + u[t, i] * p_end`` (docs/method.md).
"""

from __future__ import annotations

import numpy as np

from .spline import quadratic_spline

FAMILIES = ("sharp", "smooth", "periodic")
FAMILY_WEIGHTS = (0.2, 0.55, 0.25)
P_ALL_LINEAR = 0.2
P_SHARED_CURVE = 0.4


def linear_curve(t: int) -> np.ndarray:
    """[T] float64 ramp from 0 to 1."""
    return np.linspace(0.0, 1.0, t)


def sharp_curve(t: int, rng: np.random.Generator) -> np.ndarray:
    """[T]: 0 for at least 4 frames, a 4-8 frame linear ramp to 1, then 1 (a sudden move)."""
    ramp = int(rng.integers(4, 9))
    ramp = min(ramp, max(1, t - 5))
    last_start = max(4, t - ramp - 1)
    start = int(rng.integers(4, last_start + 1))
    frames = np.arange(t, dtype=np.float64)
    return np.clip((frames - start + 1) / (ramp + 1), 0.0, 1.0)


def smooth_curve(t: int, rng: np.random.Generator) -> np.ndarray:
    """[T] in [0, 1]: a quadratic spline through 5-9 random values that moves back and forth.

    Values are redrawn (up to 6 times) until consecutive ones differ by more than 0.45 on
    average, so the motion visibly reverses.
    """
    k = int(rng.integers(5, 10))
    for _ in range(6):
        values = rng.uniform(0.0, 1.0, k)
        if np.mean(np.abs(np.diff(values))) > 0.45:
            break
    return np.clip(quadratic_spline(values, t), 0.0, 1.0)


def periodic_curve(t: int, rng: np.random.Generator) -> np.ndarray:
    """[T]: a small oscillation whose period (5-15 frames) and amplitude drift smoothly.

    The amplitude is ``U(1.5, 4.0) * period / 100`` at each end and interpolates between them.
    """
    periods = rng.uniform(5.0, 15.0, 2)
    amps = rng.uniform(1.5, 4.0, 2) * periods / 100.0
    w = np.linspace(0.0, 1.0, t)
    period = (1.0 - w) * periods[0] + w * periods[1]
    amp = (1.0 - w) * amps[0] + w * amps[1]
    steps = np.concatenate(([0.0], np.cumsum(2 * np.pi / period[:-1])))  # phase advance
    phase = rng.uniform(0.0, 2.0 * np.pi) + steps
    return amp * np.sin(phase)


_MAKERS = {"sharp": sharp_curve, "smooth": smooth_curve, "periodic": periodic_curve}


def family_curve(t: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """One curve from the families, chosen with weights 0.2 / 0.55 / 0.25."""
    name = FAMILIES[int(rng.choice(len(FAMILIES), p=FAMILY_WEIGHTS))]
    return name, _MAKERS[name](t, rng)


def sample_weights(
    t: int, n_maps: int, rng: np.random.Generator, linear_only: bool = False
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Interpolation weights for every map of a clip.

    Returns (u [T, N] float64, kinds: N names, one per map: "linear" or a family name).
    """
    if linear_only or rng.uniform() < P_ALL_LINEAR:
        return np.repeat(linear_curve(t)[:, None], n_maps, axis=1), ("linear",) * n_maps
    if rng.uniform() < P_SHARED_CURVE:
        name, curve = family_curve(t, rng)
        return np.repeat(curve[:, None], n_maps, axis=1), (name,) * n_maps
    pool = [family_curve(t, rng) for _ in range(int(rng.integers(1, 3)))]
    pool.append(("linear", linear_curve(t)))
    pick = rng.integers(0, len(pool), n_maps)
    u = np.stack([pool[j][1] for j in pick], axis=1)
    return u, tuple(pool[j][0] for j in pick)

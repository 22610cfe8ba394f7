"""The chaos game on the CPU (numba): per-frame count histograms for a batch of frames.

One parallel region per batch (``prange`` over frames, one histogram per frame, so no races);
the steps and chains run serially inside it. The random stream of chain c is counter-based,
keyed by (clip seed, c): a 64-bit splitmix64 hash of the two gives the chain's start point
and 32-bit counter, and each step hashes the next value of that counter with a 32-bit integer
hash (32-bit multiplies: 8 lanes of an AVX2 register and one instruction on a GPU, where a
64-bit multiply is several). The stream does not depend on the frame, so every frame of a clip
starts from the same points and makes the same map draws, and the GPU kernel computes the
same stream from (seed, chain, step) alone.
"""

from __future__ import annotations

from pathlib import Path

import numba as nb
import numpy as np

from .lanes import LANES, take8
from .portable import ONE, TWO, ZERO
from .variations import apply_variations, draws_randoms


def _drop_stale_cache() -> None:
    """numba checks a cached kernel against its own source file only, but these kernels inline
    variations.py, portable.py and lanes.py: drop cached chaos kernels older than those (say,
    after an edit)."""
    here = Path(__file__)
    try:
        newest = max(here.with_name(n).stat().st_mtime
                     for n in ("variations.py", "portable.py", "lanes.py"))
        for cached in (here.parent / "__pycache__").glob("chaos.*.nb[ic]"):
            if cached.stat().st_mtime < newest:
                cached.unlink(missing_ok=True)
    except OSError:  # a read-only install caches elsewhere and is never edited in place
        pass


_drop_stale_cache()

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = (np.uint64(s) for s in (30, 27, 31, 40))
_MASK32 = np.uint64(0xFFFFFFFF)
_INV24 = np.float32(2.0**-24)
# The 32-bit step hash (Wellons' "lowbias32" finaliser) and the counter's increment; the keys
# that derive a restart's and a variation's draws from a step's.
GOLDEN32 = np.uint32(0x9E3779B9)
_H1, _H2 = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)
_K1, _K2, _K3 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35), np.uint32(0x27D4EB2F)
_U8, _U15, _U16 = np.uint32(8), np.uint32(15), np.uint32(16)
_LOW16 = np.uint32(0xFFFF)
_ESCAPE = np.float32(1e10)  # |coordinate| beyond this (or NaN) restarts the chain
# Kernels use numba's "numpy" error model: a division by zero inside a variation gives inf or
# NaN (and a restart of that chain) instead of raising from inside the parallel region.


@nb.njit(cache=True, inline="always", error_model="numpy")
def mix64(z):
    """splitmix64 finaliser: uint64 -> well-mixed uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(cache=True, inline="always", error_model="numpy")
def hash32(x):
    """uint32 -> well-mixed uint32. Every product is cut back to 32 bits (numba would widen
    it to 64), so the compiler keeps 32-bit lanes and the bits are C's uint32 arithmetic."""
    x = np.uint32(np.uint32(x ^ (x >> _U16)) * _H1)
    x = np.uint32(np.uint32(x ^ (x >> _U15)) * _H2)
    return np.uint32(x ^ (x >> _U16))


@nb.njit(cache=True, inline="always", error_model="numpy")
def escaped(x, y):
    """True when a point (float32 x, y) is beyond the escape bound or NaN: its chain restarts."""
    return not (abs(x) < _ESCAPE and abs(y) < _ESCAPE)


@nb.njit(cache=True, inline="always", error_model="numpy")
def high24(z):
    """uint32 -> float32 uniform in [0, 1) from its high 24 bits (exact: a float32 holds them)."""
    return np.float32(z >> _U8) * _INV24


@nb.njit(cache=True, inline="always", error_model="numpy")
def unit24(z):
    """uint64 -> float32 uniform in [0, 1) from its high 24 bits (exact: a float32 holds them)."""
    return np.float32(z >> _S40) * _INV24


@nb.njit(cache=True, error_model="numpy")
def alias_table(p, prob, alias):
    """Vose's alias table for probabilities p [N] into prob [N] float64, alias [N] int64."""
    n = p.shape[0]
    scaled = p * n
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        alias[i] = i
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    for i in range(nl):
        prob[large[i]] = 1.0
    for i in range(ns):  # only rounding leftovers
        prob[small[i]] = 1.0


@nb.njit(cache=True, error_model="numpy")
def alias_tables(probs, nmaps, prob, alias):
    """Alias tables of a batch: probs [F, N] float64 of which frame f uses nmaps[f] [F] int64,
    into prob [F, N] float64 and alias [F, N] int64 (what the GPU kernel reads)."""
    for f in range(probs.shape[0]):
        m = nmaps[f]
        alias_table(probs[f, :m], prob[f, :m], alias[f, :m])


@nb.njit(cache=True, error_model="numpy")
def alias_thresholds(prob):
    """The integer draw's thresholds of alias-table probabilities, prob [...] float64 ->
    ceil(prob * 2^16) [...] uint32 (exact: a power-of-two scaling and a ceiling). For a 16-bit
    u, ``u >= threshold`` exactly when ``u * 2^-16 >= prob``; a probability of 1 gives 2^16,
    which no 16-bit draw reaches. For numba (``alias_lanes``) and the host (the GPU path)."""
    return np.ceil(prob * 65536.0).astype(np.uint32)


@nb.njit(cache=True, error_model="numpy")
def alias_lanes(prob, alias, lanes):
    """An alias table (prob [N] float64, alias [N] int64, N <= 8) as the lane table the map
    draw looks up (``draw_maps``): lanes [2, 8] int32, the thresholds (``alias_thresholds``)
    and the aliases, padded past N with a threshold no draw reaches."""
    lanes[0, :] = 1 << 16
    lanes[1, :] = 0
    n = prob.shape[0]
    lanes[0, :n] = alias_thresholds(prob).astype(np.int32)
    lanes[1, :n] = alias[:n].astype(np.int32)


@nb.njit(cache=True, inline="always", error_model="numpy")
def draw_maps(zs, n, table, slots, looked, ks, m):
    """The maps that the 32-bit draws zs[:m] [>= m] uint32 pick from n (uint32, at most 8)
    maps, into ks[:m] int32, as chaos.cu draws them: the alias slot k = floor((z >> 16) n / 2^16),
    then its alias when the low 16 bits reach its threshold (table [2, 8] int32, ``alias_lanes``;
    probabilities to 2^-16). slots [>= m rounded up to 8] int32 and looked [2, same] int32:
    scratch. All in 32-bit integers and eight-lane table lookups (``lanes.take8``): no branch,
    no scalar load per point."""
    for j in range(m):
        slots[j] = np.int32(np.uint32((zs[j] >> _U16) * n) >> _U16)
    for j in range(0, m, LANES):
        take8(table, slots, j, looked)
    for j in range(m):
        alias = looked[1, j]  # (both loaded first: a select of values, which vectorizes)
        slot = slots[j]
        ks[j] = alias if np.int32(zs[j] & _LOW16) >= looked[0, j] else slot


# Chains per pass of each step's loops: the per-chain arrays stay in L1 whatever the config's
# chain count.
_BLOCK = 128


@nb.njit(cache=True, error_model="numpy")
def _frame_histogram(columns, n, aliases, vid, view, seed, chains, iters, burn, hist):
    """Run the chaos game for one frame of n maps; add kept points to ``hist`` [H * W] int32.

    columns [6, 8] float32: the maps' affine coefficients a..f, one row each, padded to 8 maps;
    aliases [2, 8] int32: the alias table (``alias_lanes``); view [6] float32 (x_left, y_top,
    px/unit x, px/unit y, W, H). Points are float32 throughout, as in chaos.cu.
    Returns the number of chain restarts (points that escaped to infinity or NaN).

    Each step runs over a block of chains as a series of simple loops, each over the whole
    block: the random numbers, the maps they pick, their coefficients (eight-lane table lookups,
    ``lanes.take8``), the affine parts, the variation (one loop per variation), the escape test,
    each point's pixel, then the histogram increments. All but the last vectorize, in 32-bit
    lanes; the increments are scattered, so scalar. Escapes are rare: the points that escaped
    restart in a scalar pass over the block only when the test found one. Every chain's points
    are those of a one-chain-at-a-time loop, and so the CUDA kernel's.
    """
    x_left, y_top, sx, sy = view[0], view[1], view[2], view[3]
    width = view[4]
    height = view[5]
    wi = np.int32(view[4])
    xs = np.empty(chains, np.float32)
    ys = np.empty(chains, np.float32)
    st = np.empty(chains, np.uint32)
    for c in range(chains):
        s = mix64(np.uint64(seed) ^ (np.uint64(c + 1) * GOLDEN))
        st[c] = np.uint32(s & _MASK32)
        xs[c] = TWO * unit24(mix64(s ^ _M1)) - ONE
        ys[c] = TWO * unit24(mix64(s ^ _M2)) - ONE
    block = max(1, min(chains, _BLOCK))  # (no chains: no block to run)
    lanes = -(-block // LANES) * LANES  # the lookups fill whole registers
    tx = np.empty(lanes, np.float32)  # the block's points after the affine part, then varied
    ty = np.empty(lanes, np.float32)
    zs = np.empty(lanes, np.uint32)  # each point's draw, for its restart
    ks = np.zeros(lanes, np.int32)
    slots = np.zeros(lanes, np.int32)
    looked = np.empty((2, lanes), np.int32)  # the slots' thresholds and aliases
    picked = np.empty((6, lanes), np.float32)  # the picked maps' coefficients a..f
    pa, pb, pc, pd, pe, pf = picked[0], picked[1], picked[2], picked[3], picked[4], picked[5]
    pixel = np.empty(lanes, np.int32)  # each point's histogram cell, -1 outside the view
    # Extra uniforms for the variations that draw them; zeros for the others.
    r1 = np.zeros(lanes, np.float32)
    r2 = np.zeros(lanes, np.float32)
    escapes = 0
    nu = np.uint32(n)
    randomized = draws_randoms(vid)
    for step in range(iters):
        keep = step >= burn
        for c0 in range(0, chains, block):
            m = min(block, chains - c0)
            # the block's chains (views: indexed from 0, the loops carry no offset)
            sb = st[c0:c0 + m]
            xb = xs[c0:c0 + m]
            yb = ys[c0:c0 + m]
            for j in range(m):  # draw: the random numbers
                s = np.uint32(sb[j] + GOLDEN32)
                sb[j] = s
                zs[j] = hash32(s)
            draw_maps(zs, nu, aliases, slots, looked, ks, m)
            for j in range(0, m, LANES):  # the maps' coefficients
                take8(columns, ks, j, picked)
            for j in range(m):  # their affine parts
                x = xb[j]
                y = yb[j]
                tx[j] = pa[j] * x + pb[j] * y + pc[j]
                ty[j] = pd[j] * x + pe[j] * y + pf[j]
            if randomized:
                for j in range(m):
                    r1[j] = high24(hash32(zs[j] ^ _K2))
                    r2[j] = high24(hash32(zs[j] ^ _K3))
            if vid != 0:  # vary (popcorn and others read the coefficients b, c, e, f)
                apply_variations(vid, tx, ty, pb, pc, pe, pf, r1, r2, m)
            out = 0
            for j in range(m):  # the escape test
                out += escaped(tx[j], ty[j])
            if out:  # restart the escaped points
                escapes += out
                for j in range(m):
                    if escaped(tx[j], ty[j]):
                        z3 = hash32(zs[j] ^ _K1)
                        tx[j] = TWO * high24(z3) - ONE
                        ty[j] = TWO * high24(hash32(z3 ^ _K2)) - ONE
            for j in range(m):  # the new points, and each one's pixel, or -1
                nx = tx[j]
                ny = ty[j]
                xb[j] = nx
                yb[j] = ny
                fx = (nx - x_left) * sx
                fy = (y_top - ny) * sy
                seen = fx >= ZERO and fx < width and fy >= ZERO and fy < height
                fx = fx if seen else ZERO
                fy = fy if seen else ZERO
                pixel[j] = np.int32(fy) * wi + np.int32(fx) if seen else np.int32(-1)
            if keep:  # count (scattered increments: scalar)
                for j in range(m):
                    if pixel[j] >= 0:
                        hist[pixel[j]] += 1
    return escapes


@nb.njit(cache=True, error_model="numpy")
def _box3(counts, height, width):
    """counts [H * W] int32 -> its 3x3 box sum, in place, zeros beyond the borders.

    Equal to splatting every point onto its 3x3 neighbourhood, but 9x fewer scattered writes.
    Separable: sums of 3 along each row, then of 3 such sums down each column; exact in
    integers (a sum fits in int32 whenever the result does). Three rows of scratch, no copy of
    the frame. Every loop indexes views of whole rows from 0, without branches, so the compiler
    vectorizes it.
    """
    line = np.empty(width, np.int32)
    for r in range(height):  # along each row: through one row of scratch
        row = counts[r * width:(r + 1) * width]
        if width == 1:
            continue
        left = row[:width - 2]
        mid = row[1:width - 1]
        right = row[2:]
        inner = line[1:width - 1]
        for c in range(width - 2):
            inner[c] = left[c] + mid[c] + right[c]
        line[0] = row[0] + row[1]
        line[width - 1] = row[width - 2] + row[width - 1]
        for c in range(width):
            row[c] = line[c]
    above = np.zeros(width, np.int32)  # the row above's sums along it (zeros above the top)
    here = np.empty(width, np.int32)
    for r in range(height):  # down each column: the row below is still unchanged
        row = counts[r * width:(r + 1) * width]
        for c in range(width):
            here[c] = row[c]
        if r < height - 1:
            below = counts[(r + 1) * width:(r + 2) * width]
            for c in range(width):
                row[c] = above[c] + here[c] + below[c]
        else:
            for c in range(width):
                row[c] = above[c] + here[c]
        above, here = here, above


@nb.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def chaos_histograms(coefs, probs, nmaps, variations, views, seeds, chains, iters, burn, splat,
                     out):
    """Count histograms for a batch of F frames.

    coefs [F, N, 6] float32 and probs [F, N] float64 (map probabilities), of which frame f uses
    the first nmaps[f] [F] int64 (the rest is padding of a batch); variations [F] int64 flame ids;
    views [F, 6] float32 (x_left, y_top, px/unit x, px/unit y, W, H); seeds [F] uint64
    (frames of one clip share a seed); splat: apply the 3x3 box filter.
    out [F, H * W] int32 (row-major frames) is overwritten. Returns escapes [F] int64.
    """
    nframes = coefs.shape[0]
    height = np.int64(views[0, 5])
    width = np.int64(views[0, 4])
    escapes = np.zeros(nframes, np.int64)
    for f in nb.prange(nframes):
        m = nmaps[f]
        prob = np.empty(m)
        alias = np.empty(m, np.int64)
        alias_table(probs[f, :m], prob, alias)
        table = np.empty((2, LANES), np.int32)
        alias_lanes(prob, alias, table)
        columns = np.zeros((6, LANES), np.float32)
        columns[:, :m] = coefs[f, :m].T
        hist = out[f]  # counted in place: no frame-sized scratch
        hist[:] = 0
        escapes[f] = _frame_histogram(columns, m, table, variations[f], views[f],
                                      seeds[f], chains, iters, burn, hist)
        if splat:
            _box3(hist, height, width)
    return escapes


def compiled_before() -> bool | None:
    """Whether numba's disk cache already holds the chaos kernel (None: this numba keeps it
    where this cannot look). A first run compiles the CPU kernels before its first clip;
    later runs load them in a moment."""
    try:
        return Path(chaos_histograms._cache._cache_file._index_path).exists()
    except AttributeError:  # another numba's internals
        return None

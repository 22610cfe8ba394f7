"""The compose stage: turn a rendered fractal clip into a clip that moves like real video.

The paper's realism operations: background from other clips and blending, scale and clones,
object shift, camera pan / zoom / shake, perspective. It runs in two steps:

1. ``sample_ops`` draws every parameter on the host from the clip's keyed stream and returns a
   list of plain records ``{"name": ..., "params": {...}}``. That list is written to KEY.json
   and clips.parquet as it is, so it says exactly what was applied.
2. ``apply_ops`` applies the records to the frames, using only what the records hold, on the
   array module ``xp`` (numpy here; cupy on the GPU path): whole-stack warps, no pixel loops.

Every operation is a row of ``OPS``: a sampler, and an applying function or, for the geometric
moves (object shift, camera perspective, pan, shake, zoom), a per-frame homography (the moves
of a layer compose into one warp). A new operation is its functions, a row and its keys in
COMPOSE_KEYS, all in this file.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numba as nb
import numpy as np

from .keys import Key, probability, scales, settings_class, span
from .portable import pow32
from .still import (
    apply_hue,
    apply_objects,
    apply_texture,
    blur,
    quantize,
    sample_blur,
    sample_hue,
    sample_objects,
    sample_texture,
)
from .warp import about, homography, rotate, scale, translate, warp_frames

SHAKE_REFERENCE_PX = 112  # the table's shake amplitudes are in pixels at this frame size
SHAKE_NOISE = 0.1  # std of the per-frame noise, relative to the sum of sines' unit weight


_G = "compose"
# The compose stage's config keys (docs/method.md; the defaults are the paper's table).
COMPOSE_KEYS = [
    probability("bg_p", 1.0, "probability of a background made from other clips of the shard",
                _G),
    probability("bg_dynamic_p", 0.2, "share of backgrounds that are a moving segment of "
                "another clip", _G),
    scales("bg_crop_scale", (0.6, 1.0), "area range of a static background's random resized "
           "crop", _G),
    probability("bg_pan_p", 0.5, "probability that a static background pans", _G),
    probability("blend_max_p", 0.05, "share of blends that take the pixel-wise max instead of "
                "the power blend", _G),
    span("blend_alpha", (0.25, 0.55), "range of a in ((1-a) fg^0.75 + a bg^0.75)^g", _G),
    span("blend_gamma", (0.6, 1.0), "range of g in the blend", _G),
    scales("object_scale", (0.3, 1.0), "range of the fractal's scale on each axis", _G),
    probability("clone_p", 0.15, "probability of a second copy of the fractal", _G),
    scales("clone_scale", (0.2, 0.7), "range of both copies' scale when cloned", _G),
    Key("clone_rotation", 60.0, "largest rotation of the copy, degrees", _G,
        lambda v: 0 <= v <= 180, "in 0..180"),
    Key("clone_time_offset", 0.25, "largest time offset of the copy, as a fraction of the "
        "clip", _G, lambda v: 0 <= v <= 1, "in [0, 1]"),
    probability("shift_p", 0.3, "probability of object shift", _G),
    span("shift_speed", (0.2, 1.0), "object-shift speed range, in (frame size / T) pixels per "
         "frame", _G),
    span("shift_duration", (0.1, 1.0), "object-shift duration range, as a fraction of the "
         "clip", _G),
    probability("pan_p", 0.3, "probability of camera pan", _G),
    span("pan_speed", (0.2, 1.0), "camera-pan speed range, in (frame size / T) pixels per "
         "frame", _G),
    span("pan_duration", (0.1, 1.0), "camera-pan duration range, as a fraction of the clip",
         _G),
    probability("zoom_p", 0.3, "probability of camera zoom (in or out)", _G),
    span("zoom_rate", (0.3, 1.0), "zoom-rate range, in 1/T per frame", _G),
    span("zoom_duration", (0.1, 1.0), "zoom duration range, as a fraction of the clip", _G),
    probability("shake_p", 0.3, "probability of camera shake", _G),
    span("shake_amplitude", (2.0, 4.0), "shake amplitude range, pixels at 112 px (scaled with "
         "resolution)", _G),
    Key("shake_sines", (2, 5), "range of the number of sines summed per axis", _G,
        lambda v: len(v) == 2 and 1 <= v[0] <= v[1], "LOW,HIGH with 1 <= LOW <= HIGH"),
    span("shake_freq", (0.1, 1.2), "range of the sines' frequencies, radians per frame", _G),
    probability("perspective_p", 0.8, "probability of a perspective warp", _G),
    Key("perspective_distortion", 0.7, "largest corner move, as a fraction of half the side",
        _G, lambda v: 0 <= v < 1, "in [0, 1)"),
    Key("perspective_zoom", 1.4, "zoom (centre crop) after the perspective warp", _G,
        lambda v: 0 < v <= 4, "in (0, 4]"),
    Key("compose_strength", 1.0, "strength of the ramped operations (shift, pan, zoom, shake, "
        "scale, clones): 0 is the reference curriculum's start, 1 full", _G,
        lambda v: 0 <= v <= 1, "in [0, 1]"),
    # stills only (media=image), after Anderson & Farrell's images
    Key("objects", (1, 1), "range of the number of fractals on an image (the others are "
        "renders of its donor block)", _G, lambda v: len(v) == 2 and 1 <= v[0] <= v[1] <= 8,
        "LOW,HIGH with 1 <= LOW <= HIGH <= 8"),
    scales("objects_scale", (0.15, 0.6), "range of each further fractal's scale", _G),
    probability("texture_p", 0.0, "probability of a diamond-square textured background, "
                "which replaces one made from other renders", _G),
    span("texture_roughness", (0.4, 0.8), "range of the texture's roughness", _G, hi=1.0),
    probability("blur_p", 0.0, "probability of a Gaussian blur of the finished image", _G),
    span("blur_sigma", (0.5, 1.0), "range of the blur's sigma, pixels", _G, hi=5.0),
]
# Keys of moves in time, which a still (media=image) has none of; and the stills' own.
MOVING_KEYS = ("bg_dynamic_p", "bg_pan_p", "clone_time_offset", "shift_p", "shift_speed",
               "shift_duration", "pan_p", "pan_speed", "pan_duration", "zoom_p", "zoom_rate",
               "zoom_duration", "shake_p", "shake_amplitude", "shake_sines", "shake_freq")
STILL_KEYS = ("objects", "objects_scale", "texture_p", "texture_roughness", "blur_p",
              "blur_sigma")
# Probabilities (``*_p``) and ranges ``(low, high)`` of the compose operations, one field per
# key above: speeds in (frame size / T) pixels per frame, durations in fractions of the clip,
# zoom rates in 1 / T per frame.
ComposeSettings = settings_class("ComposeSettings", COMPOSE_KEYS, __name__)


# The reference's curriculum ramps these from a fraction of their range to all of it: speeds
# from 0.2 of theirs, the active part of the clip from 0.1, zoom from 0.3, shake amplitudes
# from half ([1, 2] px at 112 px, against [2, 4]).
RAMP_START = {"shift_speed": 0.2, "pan_speed": 0.2, "shift_duration": 0.1,
              "pan_duration": 0.1, "zoom_rate": 0.3, "shake_amplitude": 0.5}


def ramped(s: Any, strength: float) -> Any:
    """The settings ``s`` at compose strength ``strength`` in [0, 1]: each RAMP_START range
    scaled by start + (1 - start) * strength, the fractal's smallest scale moved from 1 (no
    shrinking) to its own, and no clones before the ramp ends. At 1, ``s`` itself."""
    if strength >= 1:
        return s
    changes = {name: tuple(_r(v * (start + (1 - start) * strength)) for v in getattr(s, name))
               for name, start in RAMP_START.items()}
    lo, hi = s.object_scale
    changes["object_scale"] = (min(hi, _r(1.0 + (lo - 1.0) * strength)), hi)
    changes["clone_p"] = 0.0
    return replace(s, **changes)


def still_settings(s: Any) -> Any:
    """The settings of a still: no moves in time (their keys are refused with media=image)."""
    return replace(s, bg_dynamic_p=0.0, bg_pan_p=0.0, shift_p=0.0, pan_p=0.0, zoom_p=0.0,
                   shake_p=0.0)


def _r(x: float) -> float:
    """Parameters are rounded when drawn, so the record reproduces the clip exactly."""
    return round(float(x), 4)


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return _r(rng.uniform(lo_hi[0], lo_hi[1]))


def _segment(rng: np.random.Generator, t: int, duration: tuple[float, float]) -> tuple[int, int]:
    """A random part of the clip: (first frame, length in frames >= 1)."""
    length = max(1, int(round(rng.uniform(*duration) * t)))
    length = min(length, t)
    return int(rng.integers(0, t - length + 1)), length


def _translation(rng: np.random.Generator, t: int, size: int, speed, duration) -> dict:
    start, length = _segment(rng, t, duration)
    return {
        "angle": _u(rng, (0.0, 360.0)),
        "speed": _r(rng.uniform(*speed) * size / t),  # pixels per frame
        "start": start,
        "length": length,
    }


@dataclass
class Draw:
    """What an operation's sampler sees: the clip's keyed stream, the settings, the clip's
    length and size, the background donors [(key, frames)], the up-front firing draws ``u``
    (one or two per operation, FIRING of them) and the operations drawn so far."""

    rng: np.random.Generator
    s: Any
    t: int
    size: int
    donors: list[tuple[str, int]]
    u: np.ndarray
    drawn: dict[str, dict]
    still: bool = False


def sample_ops(
    rng: np.random.Generator,
    s: ComposeSettings,
    t: int,
    size: int,
    donors: list[tuple[str, int]],
    augment: bool = True,
    color: bool = False,
    still: bool = False,
) -> list[dict]:
    """Draw the operations for one clip of ``t`` frames of ``size`` x ``size`` pixels: each row
    of OPS in turn, its sampler giving its parameters or None (not applied).

    donors: (key, frame count) of the clips a background may come from. Whether each
    operation fires is drawn up front, so changing one probability never flips another.
    ``still``: a still image's operations (the last rows of OPS, drawn after the others).
    """
    u = rng.random(FIRING) if augment else np.empty(0)
    d = Draw(rng, s, t, size, donors, u, {}, still)
    for op in OPS:
        if (op.name in COLOURING and color) or (op.name not in COLOURING and augment):
            params = op.sample(d)
            if params is not None:
                d.drawn[op.name] = params
    return [{"name": name, "params": params} for name, params in d.drawn.items()]


def _sample_background(d: Draw) -> dict | None:
    rng, s, t, size = d.rng, d.s, d.t, d.size
    if not d.donors or d.u[0] >= s.bg_p:
        return None
    if d.u[1] < s.bg_dynamic_p:
        key, frames = d.donors[int(rng.integers(len(d.donors)))]
        length = min(int(rng.integers(2, max(2, t // 4) + 1)), frames)
        return {"kind": "dynamic", "donor": key, "start": int(rng.integers(0, frames - length + 1)),
                "length": length, "reverse": bool(rng.random() < 0.5)}
    picks = []
    for _ in range(2):
        key, frames = d.donors[int(rng.integers(len(d.donors)))]
        picks.append({"donor": key, "frame": int(rng.integers(frames))})
    area = rng.uniform(*s.bg_crop_scale)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw = min(size, np.sqrt(area * aspect) * size)
    ch = min(size, np.sqrt(area / aspect) * size)
    params = {"kind": "static", "frames": picks,
              "crop": [_u(rng, (0, size - cw)), _u(rng, (0, size - ch)), _r(cw), _r(ch)]}
    if rng.random() < s.bg_pan_p:
        params["pan"] = _translation(rng, t, size, s.pan_speed, s.pan_duration)
    return params


def _sample_blend(d: Draw) -> dict | None:
    if "background" not in d.drawn:
        return None
    if d.u[2] < d.s.blend_max_p:
        return {"mode": "max"}
    return {"mode": "power", "alpha": _u(d.rng, d.s.blend_alpha),
            "gamma": _u(d.rng, d.s.blend_gamma)}


def _place(d: Draw) -> dict:
    """Where the fractal (or a clone) sits: scales (sx, sy) and centre (cx, cy)."""
    scales = d.s.clone_scale if d.u[3] < d.s.clone_p else d.s.object_scale
    sx, sy = _u(d.rng, scales), _u(d.rng, scales)
    return {"sx": sx, "sy": sy, "cx": _u(d.rng, (sx * d.size / 2, d.size - sx * d.size / 2)),
            "cy": _u(d.rng, (sy * d.size / 2, d.size - sy * d.size / 2))}


def _sample_clone(d: Draw) -> dict | None:
    if d.u[3] >= d.s.clone_p:
        return None
    rng, s = d.rng, d.s
    return {**_place(d), "flip": bool(rng.random() < 0.5),
            "rotation": _u(rng, (-s.clone_rotation, s.clone_rotation)),
            "time_offset": int(rng.integers(0, int(s.clone_time_offset * d.t) + 1))}


def _sample_color(d: Draw) -> dict | None:
    if d.still:  # stills are coloured by hue
        return None
    hues = d.rng.random(2)
    sats = d.rng.uniform(0.4, 1.0, 2)
    return {"fg": [_r(c) for c in colorsys.hsv_to_rgb(hues[0], sats[0], 1.0)],
            "bg": [_r(c) for c in colorsys.hsv_to_rgb(hues[1], sats[1], 1.0)]}


def shake_offsets(
    rng: np.random.Generator, t: int, sines: tuple[int, int], freq: tuple[float, float]
) -> np.ndarray:
    """A sum of 2-5 sines (weights 1/k) plus noise, scaled to peak |offset| = 1: [t] float64."""
    n = int(rng.integers(sines[0], sines[1] + 1))
    k = np.arange(1, n + 1)
    f = rng.uniform(*freq, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    frames = np.arange(t)[:, None]
    wave = (np.sin(f * frames + phase) / k).sum(axis=1) + rng.normal(0, SHAKE_NOISE, t)
    peak = np.abs(wave).max()
    return wave / peak if peak > 0 else wave


def _corners(size: int) -> np.ndarray:
    return np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)


# -- moves: each a sampler (rng, settings, t, size) -> params and a transform
#    (params, t, size) -> [t, 3, 3] source -> output homographies, one per frame ----------------


def _sample_shift(rng, s: ComposeSettings, t: int, size: int) -> dict:
    return _translation(rng, t, size, s.shift_speed, s.shift_duration)


def _sample_pan(rng, s: ComposeSettings, t: int, size: int) -> dict:
    return _translation(rng, t, size, s.pan_speed, s.pan_duration)


def _sample_zoom(rng, s: ComposeSettings, t: int, size: int) -> dict:
    start, length = _segment(rng, t, s.zoom_duration)
    direction = "in" if rng.random() < 0.5 else "out"
    return {"direction": direction, "rate": _r(rng.uniform(*s.zoom_rate) / t), "start": start,
            "length": length}


def _sample_shake(rng, s: ComposeSettings, t: int, size: int) -> dict:
    amplitude = rng.uniform(*s.shake_amplitude) * size / SHAKE_REFERENCE_PX
    dx, dy = (shake_offsets(rng, t, s.shake_sines, s.shake_freq) * amplitude for _ in range(2))
    return {"amplitude": _r(amplitude), "dx": [_r(v) for v in dx], "dy": [_r(v) for v in dy]}


def _sample_perspective(rng, s: ComposeSettings, t: int, size: int) -> dict:
    inward = rng.uniform(0, s.perspective_distortion * size / 2, size=(4, 2))
    corners = _corners(size) + inward * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    return {"corners": [[_r(x), _r(y)] for x, y in corners], "zoom": _r(s.perspective_zoom)}


def _offsets(p: dict, t: int) -> np.ndarray:
    """Per-frame displacement [t, 2] of a shift / pan record."""
    moved = np.clip(np.arange(t) - p["start"], 0, p["length"]) * p["speed"]
    a = np.deg2rad(p["angle"])
    return moved[:, None] * np.array([np.cos(a), np.sin(a)])


def _translations(d: np.ndarray) -> np.ndarray:
    """[t, 2] displacements -> [t, 3, 3] translations."""
    m = np.tile(np.eye(3), (len(d), 1, 1))
    m[:, :2, 2] = d
    return m


def _translate_move(p: dict, t: int, size: int) -> np.ndarray:
    return _translations(_offsets(p, t))


def _shake_move(p: dict, t: int, size: int) -> np.ndarray:
    return _translations(np.stack([p["dx"], p["dy"]], axis=1))


def _zoom_move(p: dict, t: int, size: int) -> np.ndarray:
    grow = 1.0 + p["rate"] * np.clip(np.arange(t) - p["start"], 0, p["length"])
    factors = grow if p["direction"] == "in" else 1.0 / grow
    return np.stack([about(scale(z), size / 2, size / 2) for z in factors])


def _perspective_move(p: dict, t: int, size: int) -> np.ndarray:
    c = size / 2
    h = homography(_corners(size), np.array(p["corners"], np.float64))
    u, v, w = h @ np.array([c, c, 1.0])
    h = translate(c - u / w, c - v / w) @ h  # the centre stays the centre
    return np.tile(about(scale(p["zoom"]), c, c) @ h, (t, 1, 1))


@dataclass(frozen=True)
class Op:
    """One compose operation: ``sample(draw) -> params | None`` and
    ``apply(layers, params)``, or, for a geometric move (``layer`` "object" or "camera"),
    ``transform(params, t, size) -> [t, 3, 3]`` homographies: the moves of a layer compose in
    table order, one warp per layer. ``step`` orders the applying."""

    name: str
    sample: Callable[[Draw], dict | None]
    apply: Callable[[Any, dict], None] | None = None
    step: float = 0
    layer: str | None = None
    transform: Callable[[dict, int, int], np.ndarray] | None = None


def _move(name: str, layer: str, sampler, transform, slot: int) -> Op:
    """A move, drawn with probability ``<name>_p`` of the settings, on firing draw ``slot``."""

    def sample(d: Draw) -> dict | None:
        return sampler(d.rng, d.s, d.t, d.size) if d.u[slot] < getattr(d.s, f"{name}_p") \
            else None

    return Op(name, sample, layer=layer, transform=transform)


MOVES = (
    _move("shift", "object", _sample_shift, _translate_move, 4),
    _move("perspective", "camera", _sample_perspective, _perspective_move, 5),
    _move("pan", "camera", _sample_pan, _translate_move, 6),
    _move("shake", "camera", _sample_shake, _shake_move, 7),
    _move("zoom", "camera", _sample_zoom, _zoom_move, 8),
)
FIRING = 4 + len(MOVES)  # firing draws: background (2), blend, clone, one per move



def layer_matrices(ops: dict[str, dict], layer: str, t: int, size: int) -> np.ndarray | None:
    """[t, 3, 3]: the ``layer`` moves among ``ops`` composed in table order, or None."""
    out = None
    for move in MOVES:
        if move.layer == layer and move.name in ops:
            m = move.transform(ops[move.name], t, size)
            out = m if out is None else m @ out
    return out


# -- applying ---------------------------------------------------------------------------------


def _object_matrices(p: dict, size: int, motion: np.ndarray | None, clone: bool) -> np.ndarray:
    """[t, 3, 3] placing the full-canvas render at scale (sx, sy) around (cx, cy), then moved
    by the object layer's motion [t, 3, 3] (None: still)."""
    c = size / 2
    m = scale(p["sx"], p["sy"]) @ translate(-c, -c)
    if clone:
        m = rotate(p["rotation"]) @ (scale(-1.0, 1.0) if p["flip"] else np.eye(3)) @ m
    m = translate(p["cx"], p["cy"]) @ m
    return m[None] if motion is None else motion @ m


def _pingpong(start: int, length: int, t: int, reverse: bool) -> np.ndarray:
    """Frame indices start..start+length-1 played forward and back to fill t frames."""
    period = max(1, 2 * (length - 1))
    phase = np.arange(t) % period
    pos = np.where(phase < length, phase, period - phase)
    if reverse:
        pos = (length - 1) - pos
    return start + pos


def _reflect(idx: np.ndarray, t: int) -> np.ndarray:
    """Indices past the last frame bounce back (clone time offsets)."""
    period = max(1, 2 * (t - 1))
    idx = idx % period
    return np.where(idx < t, idx, period - idx)


def _background(p: dict, donors: dict[str, Any], t: int, size: int, xp: Any) -> Any:
    """[t, size, size] float32 in [0, 1] ([..., 3] from RGB donors)."""
    if p["kind"] == "dynamic":
        src = donors[p["donor"]]
        idx = _pingpong(p["start"], p["length"], t, p["reverse"])
        return src[xp.asarray(idx)].astype(xp.float32) / 255.0
    a, b = p["frames"]
    still = xp.maximum(donors[a["donor"]][a["frame"]], donors[b["donor"]][b["frame"]])
    still = still.astype(xp.float32)[None] / 255.0
    x0, y0, cw, ch = p["crop"]
    move = _offsets(p["pan"], t) if "pan" in p else np.zeros((1, 2))
    mats = np.stack([scale(size / cw, size / ch) @ translate(-(x0 + dx), -(y0 + dy))
                     for dx, dy in move])
    stack = xp.broadcast_to(still, (len(mats), *still.shape[1:])).copy()
    out = warp_frames(stack, mats, (size, size), xp)
    return out if len(mats) == t else xp.broadcast_to(out, (t, *out.shape[1:]))


@dataclass
class Layers:
    """The clip being composed: the render ``src`` and the foreground ``fg`` [t, size, size]
    float32 in [0, 1] (RGB: [..., 3]), the background ``bg`` (None without one), the records
    by name, the donors and the array module."""

    src: Any
    fg: Any
    bg: Any
    ops: dict[str, dict]
    donors: dict[str, Any]
    xp: Any

    @property
    def shape(self) -> tuple[int, int]:
        return self.src.shape[0], self.src.shape[1]


def apply_ops(ops: list[dict], frames: Any, donors: dict[str, Any], xp: Any = np) -> Any:
    """Apply ``ops`` (from ``sample_ops``) to frames [T, H, W] uint8 (H == W): each op's row in
    applying order, then the camera moves as one warp.

    donors: key -> rendered frames [T', H, W] uint8 of the clips the background names.
    Returns [T, H, W] uint8, or [T, H, W, 3] uint8 when a ``color`` op is present.
    """
    if not ops:
        return frames
    src = frames.astype(xp.float32) / 255.0
    layers = Layers(src, src, None, {op["name"]: op["params"] for op in ops}, donors, xp)
    for op in sorted((o for o in OPS if o.name in layers.ops and o.apply), key=lambda o: o.step):
        op.apply(layers, layers.ops[op.name])
    if layers.bg is not None:  # a background without a blend record: the pixel-wise max
        _apply_blend(layers, {"mode": "max"})
    t, size = layers.shape
    out = layers.fg
    camera = layer_matrices(layers.ops, "camera", t, size)
    if camera is not None:
        out = warp_frames(out, camera, (size, size), xp)
    if "blur" in layers.ops:
        out = blur(out, layers.ops["blur"]["sigma"], xp)
    return quantize(out, xp)


def _apply_scale(layers: Layers, p: dict) -> None:
    t, size = layers.shape
    motion = layer_matrices(layers.ops, "object", t, size)
    place = np.broadcast_to(_object_matrices(p, size, motion, False), (t, 3, 3))
    layers.fg = warp_frames(layers.src, place, (size, size), layers.xp)


def _apply_clone(layers: Layers, p: dict) -> None:
    t, size = layers.shape
    xp = layers.xp
    motion = layer_matrices(layers.ops, "object", t, size)
    src = layers.src[xp.asarray(_reflect(np.arange(t) + p["time_offset"], t))]
    place = np.broadcast_to(_object_matrices(p, size, motion, True), (t, 3, 3))
    layers.fg = xp.maximum(layers.fg, warp_frames(src, place, (size, size), xp))


def _apply_background(layers: Layers, p: dict) -> None:
    t, size = layers.shape
    layers.bg = _background(p, layers.donors, t, size, layers.xp)


def _apply_color(layers: Layers, p: dict) -> None:
    xp = layers.xp
    layers.fg = layers.fg[..., None] * xp.asarray(p["fg"], dtype=xp.float32)
    if layers.bg is not None:
        layers.bg = layers.bg[..., None] * xp.asarray(p["bg"], dtype=xp.float32)


def _apply_blend(layers: Layers, p: dict) -> None:
    if layers.bg is not None:
        layers.fg, layers.bg = blend(layers.fg, layers.bg, p, layers.xp), None


# Every compose operation, in drawing (and record) order; ``step`` orders the applying: the
# fractal placed (and cloned), the background made, both tinted, then blended.
OPS = (
    Op("background", _sample_background, _apply_background, step=2),
    Op("blend", _sample_blend, _apply_blend, step=4),
    Op("scale", _place, _apply_scale, step=0),
    Op("clone", _sample_clone, _apply_clone, step=1),
    *MOVES,
    Op("color", _sample_color, _apply_color, step=3),
    # stills only: a video draws nothing for them (still.py)
    Op("objects", sample_objects, apply_objects, step=1.5),
    Op("texture", sample_texture, apply_texture, step=3.5),
    Op("hue", sample_hue, apply_hue, step=3),
    Op("blur", sample_blur),  # last of all, after the camera (apply_ops)
)
COLOURING = ("color", "hue")  # drawn when colour is asked for, compose or not
OP_NAMES = tuple(op.name for op in OPS)


def blend(fg: Any, bg: Any, p: dict, xp: Any = np) -> Any:
    """Foreground over background, both float32 in [0, 1]: ``((1-a) fg^.75 + a bg^.75)^g``,
    or the pixel-wise max.

    No array pow, whose last bits differ between numpy builds and GPUs: x^.75 is
    sqrt(x sqrt(x)) (square roots round correctly everywhere), and m^g interpolates a table
    made on the host by the portable pow, so every backend blends to the same bits."""
    if p["mode"] == "max":
        return xp.maximum(fg, bg)
    a = np.float32(p["alpha"])
    table = gamma_table(p["gamma"])
    if xp is np:  # one pass in numba, the same operations as below
        fg, bg = np.broadcast_arrays(fg, bg)
        out = np.empty(fg.shape, np.float32)
        _blend_kernel(fg.ravel(), bg.ravel(), a, table, out.reshape(-1))
        return out
    mixed = (1 - a) * xp.sqrt(fg * xp.sqrt(fg)) + a * xp.sqrt(bg * xp.sqrt(bg))
    pos = xp.clip(mixed, 0.0, 1.0) * np.float32(GAMMA_STEPS)
    cell = xp.minimum(pos.astype(xp.int32), GAMMA_STEPS - 1)
    frac = pos - cell.astype(xp.float32)
    table = xp.asarray(table)
    low = table[cell]
    return low + frac * (table[cell + 1] - low)


_BLEND_BLOCK = 4096  # elements a pass: the block's cells and fractions stay in L1


@nb.njit(parallel=True, cache=True, nogil=True)
def _blend_kernel(fg, bg, a, table, out):
    """``blend``'s power mode over flat float32 arrays, operation for operation. Per block, two
    loops: the arithmetic (which the compiler vectorizes, square roots included), then the table
    lookups (scalar loads)."""
    one = np.float32(1.0)
    b = one - a
    steps = np.float32(GAMMA_STEPS)
    n = out.shape[0]
    for block in nb.prange((n + _BLEND_BLOCK - 1) // _BLEND_BLOCK):
        start = block * _BLEND_BLOCK
        f = fg[start:start + _BLEND_BLOCK]
        g = bg[start:start + _BLEND_BLOCK]
        o = out[start:start + _BLEND_BLOCK]
        cells = np.empty(o.shape[0], np.int32)
        fracs = np.empty(o.shape[0], np.float32)
        for i in range(o.shape[0]):
            mixed = b * np.sqrt(f[i] * np.sqrt(f[i])) + a * np.sqrt(g[i] * np.sqrt(g[i]))
            pos = min(max(mixed, np.float32(0.0)), one) * steps
            cell = min(np.int32(pos), GAMMA_STEPS - 1)
            cells[i] = cell
            fracs[i] = pos - np.float32(cell)
        for i in range(o.shape[0]):
            low = table[cells[i]]
            o[i] = low + fracs[i] * (table[cells[i] + 1] - low)


GAMMA_STEPS = 65536  # table cells on [0, 1]; interpolation errs below 3e-4 (near 0 only)


def gamma_table(gamma: float) -> np.ndarray:
    """[GAMMA_STEPS + 1] float32: (i / GAMMA_STEPS) ** gamma by the portable float32 pow (the
    same table on every machine)."""
    return _gamma_table(np.float32(gamma), GAMMA_STEPS)


@nb.njit(cache=True, error_model="numpy")
def _gamma_table(gamma, steps):
    out = np.empty(steps + 1, np.float32)
    for i in range(steps + 1):
        out[i] = pow32(np.float32(i) / np.float32(steps), gamma)
    return out

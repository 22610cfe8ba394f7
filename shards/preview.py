"""preview.png and preview.gif: sample frames (and clips, moving), one row per class (or per
clip when unlabeled)."""

from __future__ import annotations

import numpy as np

from .metadata import read_parquet
from .reader import read_clip
from .store import SHARD_STEM, Store, open_store

# The gap between tiles: a colour of its own, not the black of a perspective warp's wedges.
GAP_GRAY, GAP_RGB = 112, (40, 90, 170)


# Digits 0-9 as 3x5 bitmaps (rows top to bottom, 3 bits a row), to label each row by its class.
_DIGITS = ("75557", "26227", "71747", "71717", "55711", "74717", "74757", "71111", "75757",
           "75717")
_GLYPH = np.array([[[(int(c) >> (2 - b)) & 1 for b in range(3)] for c in d]
                   for d in _DIGITS], bool)  # [10, 5, 3]


def _label(text: str, height: int, rgb: bool, scale: int = 2) -> np.ndarray:
    """A strip [height, W(, 3)] uint8 in the gap colour with ``text`` (digits) in white."""
    glyphs = [np.kron(_GLYPH[int(c)], np.ones((scale, scale), bool)) for c in text]
    gap = np.zeros((5 * scale, scale), bool)
    mark = np.hstack([gap] + [x for g in glyphs for x in (g, gap)])[: height]
    strip = np.zeros((height, mark.shape[1] + scale), bool)
    strip[: mark.shape[0], scale:] = mark
    out = np.empty(strip.shape + ((3,) if rgb else ()), np.uint8)
    out[...] = np.array(GAP_RGB if rgb else GAP_GRAY, np.uint8)
    out[strip] = 255
    return out


def _pick(store: Store, groups: int, per_group: int) -> list[dict]:
    """Up to ``per_group`` clips (rows of clips.parquet) of each of the first ``groups``
    classes (or clips, when unlabeled), in clips.parquet order."""
    raw = store.read("clips.parquet")
    if raw is None:
        raise ValueError(f"{store}: no clips.parquet")
    table = read_parquet(raw, columns=["key", "shard", "class_id", "split", "channels"])
    picked: dict = {}
    for i, r in enumerate(table.to_pylist()):
        group = r["class_id"] if r["class_id"] is not None else f"row {i // per_group}"
        if group in picked or len(picked) < groups:
            if len(picked.setdefault(group, [])) < per_group:
                picked[group].append(r)
    if not picked:
        raise ValueError(f"{store}: no clips to preview")
    for r in (r for rows in picked.values() for r in rows):
        if not isinstance(r["shard"], str) or not SHARD_STEM.fullmatch(r["shard"]):
            raise ValueError(f"{store}/clips.parquet names shard {r['shard']!r}, which is not "
                             "one of fractalvid's (damaged?)")
    return list(picked.values())


def _read(store: Store, r: dict) -> np.ndarray:
    return read_clip(store.join(f"{r['shard']}.tar"), r["key"], color=r["channels"] == 3)


def _tile(tiles: list[list[np.ndarray]], rgb: bool, gap: int,
          labels: list[str] | None = None) -> np.ndarray:
    """Rows of equal-shaped tiles, each [..., H, W(, 3)] uint8 -> one image [..., rows * (H +
    gap) - gap, left + cols * (W + gap) - gap(, 3)], the gaps in the gap colour; ``labels``
    (digits, one a row) are written in a strip of width ``left`` at the left."""
    first = tiles[0][0]
    h, w = first.shape[-3:-1] if rgb else first.shape[-2:]
    lead, tail = (first.shape[:-3], (3,)) if rgb else (first.shape[:-2], ())
    strips = [_label(text, h, rgb) for text in labels] if labels else []
    left = max((s.shape[1] for s in strips), default=0)
    cols = max(len(row) for row in tiles)
    grid = np.empty((*lead, len(tiles) * (h + gap) - gap, left + cols * (w + gap) - gap,
                     *tail), np.uint8)
    grid[...] = np.array(GAP_RGB if rgb else GAP_GRAY, np.uint8)
    for i, strip in enumerate(strips):
        rows = slice(i * (h + gap), i * (h + gap) + h)
        if rgb:
            grid[..., rows, : strip.shape[1], :] = strip
        else:
            grid[..., rows, : strip.shape[1]] = strip
    for i, row in enumerate(tiles):
        for j, t in enumerate(row):
            y, x = i * (h + gap), left + j * (w + gap)
            if rgb:
                grid[..., y: y + h, x: x + w, :] = t
            else:
                grid[..., y: y + h, x: x + w] = t
    return grid


def preview_grid(out: Store | str, rows: int = 10, cols: int = 6, gap: int = 2) -> np.ndarray:
    """Frames of one clip per class of the data set in ``out`` (a store, a folder or a URL),
    ``cols`` frames spread over the clip, for up to ``rows`` classes:
    [rows * (H + gap) - gap, cols * (W + gap) - gap(, 3)] uint8 (RGB for color clips), the
    tiles apart by a gap of a colour no clip has at its edges (not black). Stills: ``cols``
    images of each class (or ``cols`` images a row, unlabeled)."""
    store = open_store(out)
    picked = [rows_[0] for rows_ in _pick(store, rows, 1)]
    first = _read(store, picked[0])
    if first.shape[0] == 1:  # stills: a row of images per class
        groups = _pick(store, rows, cols)
        tiles = [[_read(store, r)[0] for r in group] for group in groups]
        return _tile(tiles, picked[0]["channels"] == 3, gap, _labels([g[0] for g in groups]))
    tiles = []
    for r in picked:
        frames = first if r is picked[0] else _read(store, r)
        idx = np.linspace(0, frames.shape[0] - 1, cols).round().astype(int)
        tiles.append(list(frames[idx]))
    return _tile(tiles, picked[0]["channels"] == 3, gap, _labels(picked))


def _labels(rows: list[dict]) -> list[str] | None:
    """Each row's class id, as the label of a preview row; None for an unlabeled set."""
    ids = [r["class_id"] for r in rows]
    return None if any(i is None for i in ids) else [str(i) for i in ids]


def preview_clips(out: Store | str, groups: int = 4, per_group: int = 3, size: int = 64,
                  gap: int = 2) -> np.ndarray:
    """``per_group`` clips of each of the first ``groups`` classes (a row each), shrunk to
    about ``size`` px and played together: [T, rows * (S + gap) - gap, cols * (S + gap) - gap
    (, 3)] uint8, T the shortest clip's length (preview.gif)."""
    store = open_store(out)
    picked = _pick(store, groups, per_group)
    clips = [[_read(store, r) for r in row] for row in picked]
    t = min(c.shape[0] for row in clips for c in row)
    step = max(1, clips[0][0].shape[1] // size)
    tiles = [[c[:t, ::step, ::step] for c in row] for row in clips]
    return _tile(tiles, picked[0][0]["channels"] == 3, gap, _labels([row[0] for row in picked]))

"""preview.png: a grid of sample frames, one row per class (or per clip when unlabeled)."""

from __future__ import annotations

import numpy as np

from fractalvid.shards.metadata import read_parquet
from fractalvid.shards.reader import read_clip
from fractalvid.shards.store import SHARD_STEM, Store, open_store


def preview_grid(out: Store | str, rows: int = 10, cols: int = 6, gap: int = 2) -> np.ndarray:
    """Frames of one clip per class of the data set in ``out`` (a store, a folder or a URL),
    ``cols`` frames spread over the clip, for up to ``rows`` classes:
    [rows * (H + gap) - gap, cols * (W + gap) - gap(, 3)] uint8 (RGB for color clips)."""
    store = open_store(out)
    raw = store.read("clips.parquet")
    if raw is None:
        raise ValueError(f"{store}: no clips.parquet")
    table = read_parquet(raw, columns=["key", "shard", "class_id", "split", "channels"])
    df = table.to_pylist()
    picked: list[dict] = []
    seen: set = set()
    for r in df:
        group = r["class_id"] if r["class_id"] is not None else r["key"]
        if group not in seen:
            seen.add(group)
            picked.append(r)
        if len(picked) == rows:
            break
    if not picked:
        raise ValueError(f"{store}: no clips to preview")
    tiles = []
    for r in picked:
        if not isinstance(r["shard"], str) or not SHARD_STEM.fullmatch(r["shard"]):
            raise ValueError(f"{store}/clips.parquet names shard {r['shard']!r}, which is not "
                             "one of fractalvid's (damaged?)")
        frames = read_clip(store.join(f"{r['shard']}.tar"), r["key"], color=r["channels"] == 3)
        idx = np.linspace(0, frames.shape[0] - 1, cols).round().astype(int)
        tiles.append(frames[idx])
    h, w = tiles[0].shape[1:3]
    grid = np.zeros((len(tiles) * (h + gap) - gap, cols * (w + gap) - gap) + tiles[0].shape[3:],
                    np.uint8)
    for i, t in enumerate(tiles):
        for j in range(cols):
            grid[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = t[j]
    return grid


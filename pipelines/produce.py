"""The clip pipeline: clip specs in, finished clips out (draw, screen, render, compose, record).

Both the offline shards (shard.py: then encode, tar, Parquet) and the in-training stream
(stream.py: then straight to the trainer) take their clips from here, so a key gives the same
frames on either path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..gen.render import Renderer
from .clips import DONOR_GROUP, block_donors, clip_record, compose_clip
from .config import Config
from .plan import ClipSpec


@dataclass(frozen=True)
class MadeClip:
    """A finished clip: frames [T, H, W] or [T, H, W, 3] uint8 (numpy; cupy where kept on the
    device) and its metadata record (KEY.json, less the member's size and checksum)."""

    spec: ClipSpec
    frames: Any
    record: dict


def render_batch(batch: int) -> int:
    """Clips per render call: ``batch`` rounded up to whole donor groups, so every clip's
    background donors are rendered with it."""
    return -(-batch // DONOR_GROUP) * DONOR_GROUP


def make_clips(cfg: Config, blocks: list[list[ClipSpec]], renderer: Renderer, batch: int = 8,
               shard: str | Mapping[str, str] = "", host: bool = True, figures: bool = True,
               strength: Callable[[ClipSpec], float] | None = None,
               ahead: int = 0) -> Iterator[MadeClip]:
    """The clips of ``blocks`` (donor blocks: a shard's ``donor_blocks``, or any choice of
    whole blocks), in order; whole blocks go to each render call, ``render_batch(batch)``
    clips or so at a time, so every clip has its background donors at hand.

    The config's generator draws and renders each chunk (gen/generator.py); the compose
    stage and the record are the same for every generator. ``shard``: the shard the records
    name, or {key: shard} (a key it lacks: ""). ``host=False`` leaves GPU frames on the
    device; ``figures=False`` skips the quality figures (coverage, motion) of the record.
    ``strength``: each clip's compose strength (default: the config's).
    ``ahead``: numba threads of each of two threads that make whole chunks side by side
    (0: chunk after chunk here). The CPU's kernels release the GIL; the clips and their
    order are the same.
    """
    gen = cfg.generator_spec
    per_call = max(1, render_batch(batch) // DONOR_GROUP)
    chunks = [blocks[at : at + per_call] for at in range(0, len(blocks), per_call)]

    def made(chunk: list[list[ClipSpec]]) -> Iterator[MadeClip]:
        specs = [s for block in chunk for s in block]
        drawn = gen.draw(cfg, specs, renderer)
        rendered = gen.render(cfg, specs, drawn, renderer)
        donors = {s.key: r.frames for s, r in zip(specs, rendered)}
        mine = [block for block in chunk for _ in block]
        for s, d, r, block in zip(specs, drawn, rendered, mine):
            k = cfg.compose_strength if strength is None else strength(s)
            clip, ops = compose_clip(cfg, s, r.frames, donors, block_donors(block, s), host, k)
            name = shard if isinstance(shard, str) else shard.get(s.key, "")
            record = clip_record(cfg, s, name, d, r, clip, ops, figures, k)
            yield MadeClip(s, clip, record)

    if not ahead:
        for chunk in chunks:
            yield from made(chunk)
        return
    for clips in _side_by_side(lambda chunk: list(made(chunk)), chunks, ahead):
        yield from clips


SIDE_BY_SIDE = 2  # threads making chunks at once: the GIL the Python parts hold bounds more


def _side_by_side(fn: Callable[[Any], Any], items: list[Any], threads: int) -> Iterator[Any]:
    """fn of each item, in order, SIDE_BY_SIDE at a time on threads of their own, each with
    ``threads`` numba threads (numba's count is per thread)."""
    import numba

    def start() -> None:
        numba.set_num_threads(threads)

    with ThreadPoolExecutor(max_workers=SIDE_BY_SIDE, thread_name_prefix="fractalvid-make",
                            initializer=start) as pool:
        pending = deque(pool.submit(fn, item) for item in items[:SIDE_BY_SIDE])
        for item in items[SIDE_BY_SIDE:] + [None] * len(pending):
            done = pending.popleft()
            if item is not None:
                pending.append(pool.submit(fn, item))
            yield done.result()

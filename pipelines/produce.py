"""The clip pipeline: clip specs in, finished clips out (draw, screen, render, compose, record).

Both the offline shards (shard.py: then encode, tar, Parquet) and the in-training stream
(stream.py: then straight to the trainer) take their clips from here, so a key gives the same
frames on either path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fractalvid.gen.render import Renderer
from fractalvid.pipelines.clips import (
    DONOR_GROUP,
    block_donors,
    clip_jobs,
    clip_record,
    compose_clip,
)
from fractalvid.pipelines.config import Config
from fractalvid.pipelines.plan import ClipSpec


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
               shard: str = "", host: bool = True, figures: bool = True,
               ) -> Iterator[MadeClip]:
    """The clips of ``blocks`` (donor blocks: a shard's ``donor_blocks``, or any choice of
    whole blocks), in order; whole blocks go to each render call, ``render_batch(batch)``
    clips or so at a time, so every clip has its background donors at hand.

    Screening renders on ``renderer`` only where its frames equal the CPU's, so the draws (and
    the data set) do not depend on the backend. ``host=False`` leaves GPU frames on the device;
    ``figures=False`` skips the quality figures (coverage, motion) of the record.
    """
    screener = renderer if renderer.exact else None
    step = render_batch(batch)
    for at in range(0, len(blocks), max(1, step // DONOR_GROUP)):
        chunk = blocks[at : at + max(1, step // DONOR_GROUP)]
        specs = [s for block in chunk for s in block]
        made = clip_jobs(cfg, specs, screener)
        rendered = renderer.render([job for job, _ in made], cfg.render_settings)
        donors = {s.key: r.frames for s, r in zip(specs, rendered)}
        mine = [block for block in chunk for _ in block]
        for s, (job, drawn), r, block in zip(specs, made, rendered, mine):
            clip, ops = compose_clip(cfg, s, r.frames, donors, block_donors(block, s), host)
            record = clip_record(cfg, s, shard, drawn, job, r, clip, ops, figures)
            yield MadeClip(s, clip, record)

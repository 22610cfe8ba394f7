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
    clip_jobs,
    clip_record,
    compose_clip,
    donor_group,
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


def make_clips(cfg: Config, specs: list[ClipSpec], renderer: Renderer, batch: int = 8,
               shard: str = "", host: bool = True, figures: bool = True,
               ) -> Iterator[MadeClip]:  # fmt: skip
    """The clips of ``specs`` (a shard's, in order), one render call per ``render_batch``.

    Screening renders on ``renderer`` only where its frames equal the CPU's, so the draws (and
    the data set) do not depend on the backend. ``host=False`` leaves GPU frames on the device;
    ``figures=False`` skips the quality figures (coverage, motion) of the record.
    """
    screener = renderer if renderer.exact else None
    step = render_batch(batch)
    for at in range(0, len(specs), step):
        chunk = specs[at : at + step]
        made = clip_jobs(cfg, chunk, screener)
        rendered = renderer.render([job for job, _ in made], cfg.render_settings)
        donors = {s.key: r.frames for s, r in zip(chunk, rendered)}
        for i, (s, (job, drawn), r) in enumerate(zip(chunk, made, rendered)):
            clip, ops = compose_clip(cfg, s, r.frames, donors, donor_group(specs, at + i), host)
            record = clip_record(cfg, s, shard, drawn, job, r, clip, ops, figures)
            yield MadeClip(s, clip, record)

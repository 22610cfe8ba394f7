"""The generator interface: what kind of clip a data set holds (fractals, Perlin noise, ...).

A generator owns, in one module of gen/ (one row of ``generators.GENERATORS``):
- its config keys (``keys``), and the rules between them (``check``);
- how a class and an instance are drawn, deterministically from (seed, purpose, id): ``draw``
  and ``class_for`` return ``Drawn`` records, screened if the generator has a screen;
- how a batch of drawn clips becomes frames: ``render`` -> ``Made`` ([T, H, W] or
  [T, H, W, 3] uint8, and the clip's own record columns);
- its record columns (``columns``: the clips.parquet layout, common pieces and its own) and
  its classes.parquet columns (``class_columns``, ``class_row``);
- its cost (``seconds_per_frame``), for `plan`'s estimates.

The pipelines (plan, shards, finalize, stats, the card, the stream, the reader) see only this.
The config reaches a generator as an object with one attribute per key; specs as objects with
``index``, ``split``, ``class_id`` (None: unlabeled) and ``instance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .keys import Key

# Record columns every generator writes, as (name, type); a generator lists its own between
# them (``columns``), in the order clips.parquet holds them. Types: string, bool, int8..int64,
# uint64, float64, "float64[4]" (a fixed-size list), "float64[]" / "string[]" (lists).
HEAD = (("key", "string"), ("split", "string"), ("shard", "string"), ("class_id", "int32"),
        ("instance", "int32"), ("seed", "int64"))
SIZE = (("frames", "int16"), ("height", "int16"), ("width", "int16"), ("fps", "int16"))
SCREEN = (("class_attempt", "int16"), ("instance_attempt", "int16"), ("defect", "string"))
TAIL = (("coverage", "float64"), ("motion", "float64"), ("channels", "int8"),
        ("ops", "string[]"), ("augmentations", "string"), ("bytes", "int64"),
        ("sha256", "string"))  # sha256 of the clip's video member


@dataclass(frozen=True)
class Drawn:
    """A draw of one clip or class: ``params``, the generator's own (fractal: an IFS class and
    its coefficients); ``attempt``, the redraw that was kept (-1: an instance fell back to its
    class's own parameters); ``defect``, why it is still degenerate, if it is."""

    params: Any
    attempt: int = 0
    defect: str | None = None


@dataclass(frozen=True)
class Made:
    """A rendered clip: frames [T, H, W] or [T, H, W, 3] uint8 (numpy; cupy on the device) and
    the generator's own record columns of it."""

    frames: Any
    columns: dict[str, Any]


class Generator(Protocol):
    """One kind of clip. ``channels``: 1 (grey frames, which ``color=true`` tints) or 3 (RGB
    already); ``gpu``: whether ``render`` runs on the GPU renderer; ``screened``: whether it
    rejects degenerate draws (then `stats` and the card report the degenerate rate by the
    fractal thresholds; full-canvas noise is not degenerate); ``tally``: a column the card and
    `stats` count clips by (or None); ``about``: a sentence for the dataset card."""

    name: str
    title: str
    about: str
    keys: tuple[Key, ...]
    channels: int
    gpu: bool
    screened: bool
    tally: str | None
    columns: tuple[tuple[str, str], ...]
    class_columns: tuple[tuple[str, str], ...]

    def check(self, cfg: Any) -> str | None:
        """Why ``cfg``'s values of this generator's keys do not go together, or None."""

    def class_for(self, cfg: Any, class_id: int) -> Drawn:
        """The class ``class_id`` of a labeled set (cached: a shard has many clips a class)."""

    def class_row(self, cfg: Any, class_id: int) -> dict[str, Any]:
        """The class as its classes.parquet row (``class_columns``)."""

    def draw(self, cfg: Any, specs: list, renderer: Any) -> list[Drawn]:
        """The clips of ``specs``, drawn (and screened, on ``renderer`` where it is exact)."""

    def render(self, cfg: Any, specs: list, drawn: list[Drawn], renderer: Any) -> list[Made]:
        """The drawn clips' frames, in one batch."""

    def seconds_per_frame(self, cfg: Any) -> float:
        """CPU core-seconds to render one frame (drawing and screening included), erring
        high: `plan`'s time estimate and a job's time limit come from it."""

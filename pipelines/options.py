"""How a run makes its shards, as one frozen object from the command line (or the API) down
to each worker: what to make is the Config's, how to make it is this."""

from __future__ import annotations

from dataclasses import dataclass

from .sizing import cpu_count


@dataclass(frozen=True)
class RunOptions:
    """``backend``: the renderer's name, "cpu" or "gpu" ("auto" is settled before);
    ``workers``: worker processes; ``batch``: clips per render call (``default_batch`` of the
    backend where None); ``progress``: a bar on stderr; ``deadline``: ``run._clock()``
    seconds by which every started shard must finish (``--time-limit``), or None."""

    backend: str = "cpu"
    workers: int = 1
    batch: int | None = None
    progress: bool = False
    deadline: float | None = None

    @property
    def threads(self) -> int:
        """numba threads a worker renders with: the cores shared out."""
        return max(1, cpu_count() // max(1, self.workers))

    @property
    def encoders(self) -> int:
        """ffmpeg processes a worker keeps busy at once: one on the CPU (the cores render), as
        many as its cores on the GPU (the device renders)."""
        return self.threads if self.backend == "gpu" else 1

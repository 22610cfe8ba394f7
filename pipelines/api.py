"""The Python API behind the command line: ``generate`` and ``verify`` a data set.

``fractalvid generate`` and ``fractalvid verify`` call these, so a script or a notebook gets
the same behaviour without a subprocess::

    from fractalvid import build_config, generate, verify
    cfg = build_config("tiny", {"seed": 3})
    result = generate(cfg, "data/t3", workers=2)
    assert verify("data/t3") == []
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fractalvid.pipelines.config import Config, ConfigError, build_config
from fractalvid.pipelines.plan import ShardSpec, plan_shards


@dataclass(frozen=True)
class Generated:
    """What a ``generate`` call did: shards made and skipped (done before), clips made, the
    seconds it took, the data set's dataset.json once finalized (else None), and how many of
    the data set's shards are done."""

    out: Path
    backend: str
    workers: int
    made: int
    skipped: int
    clips: int
    seconds: float
    dataset: dict | None
    done: int
    total: int

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def generate(
    config: Config | str,
    out: str | Path,
    *,
    backend: str = "cpu",
    workers: int | None = None,
    batch: int | None = None,
    shards: Sequence[ShardSpec] | None = None,
    overwrite: bool = False,
    finalize: bool = True,
    progress: bool = False,
    warn: Callable[[str], None] = _stderr,
) -> Generated:
    """Generate (or resume) ``config``'s data set in ``out``: claim the folder, make every
    shard of ``shards`` (default: all) not yet done, then finalize once all are done.

    ``workers`` defaults to what the cores and the memory hold; warnings (memory, disk) go to
    ``warn``. Raises ConfigError, before any work, for a folder that cannot be used or a
    backend that cannot run here.
    """
    from fractalvid.gen.render import get_renderer
    from fractalvid.pipelines.finalize import finalize as write_finalize
    from fractalvid.pipelines.outdir import claim_output
    from fractalvid.pipelines.progress import shards_done
    from fractalvid.pipelines.run import run_shards
    from fractalvid.pipelines.sizing import default_workers, disk_warning, memory_warning

    cfg = build_config(config) if isinstance(config, str) else config
    out = Path(out)
    everything = plan_shards(cfg)
    selected = list(everything if shards is None else shards)
    try:
        renderer = get_renderer(backend).name
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    try:
        claim_output(cfg, out, overwrite)
    except OSError as exc:  # read-only, no permission, a file on the path
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror})") from None
    workers = min(workers or default_workers(renderer, cfg, batch), max(1, len(selected)))
    for warning in (memory_warning(cfg, renderer, workers, batch),
                    disk_warning(cfg, selected, out)):
        if warning:
            warn(warning)
    summary = run_shards(cfg, selected, out, renderer, workers, batch, progress=progress)
    done = len(everything) if len(selected) == len(everything) else shards_done(cfg, out)
    dataset = write_finalize(cfg, out) if finalize and done == len(everything) else None
    return Generated(out, renderer, workers, summary.made, summary.skipped, summary.clips,
                     summary.seconds, dataset, done, len(everything))


def verify(out: str | Path, deep: bool = False, workers: int | None = None,
           progress: bool = False) -> list[str]:
    """The problems found in the data set at ``out``, in shard order; empty when it is sound
    (see ``fractalvid verify``)."""
    from fractalvid.pipelines.sizing import cpu_count
    from fractalvid.shards.verify import verify as check

    return check(Path(out), deep=deep, workers=workers or cpu_count(), progress=progress)

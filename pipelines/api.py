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
from fractalvid.shards.location import is_url


@dataclass(frozen=True)
class Generated:
    """What a ``generate`` call did: shards made and skipped (done before), clips made, the
    seconds it took, the data set's dataset.json once finalized (else None), and how many of
    the data set's shards are done."""

    out: Path | str
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
    tmp: str | Path | None = None,
) -> Generated:
    """Generate (or resume) ``config``'s data set in ``out`` (a folder, or an fsspec URL such
    as ``s3://bucket/prefix``): claim it, make every shard of ``shards`` (default: all) not yet
    done, then finalize once all are done. For a URL, shards are made in node-local scratch
    (``tmp``, else TMPDIR) and uploaded as each is done.

    ``workers`` defaults to what the cores and the memory hold; warnings (memory, disk) go to
    ``warn``. Raises ConfigError, before any work, for a folder or store that cannot be used or
    a backend that cannot run here.
    """
    from fractalvid.gen.generators import renderer_for
    from fractalvid.pipelines.run import run_shards
    from fractalvid.pipelines.sizing import default_workers, memory_warning

    cfg = build_config(config) if isinstance(config, str) else config
    everything = plan_shards(cfg)
    selected = list(everything if shards is None else shards)
    try:
        renderer = renderer_for(cfg.generator_spec, backend).name
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    workers = min(workers or default_workers(renderer, cfg, batch), max(1, len(selected)))
    if warning := memory_warning(cfg, renderer, workers, batch):
        warn(warning)

    def make(todo: list[ShardSpec], folder: Path, on_result=None):
        return run_shards(cfg, todo, folder, renderer, workers, batch, progress=progress,
                          on_result=on_result)

    from fractalvid.pipelines import remote
    from fractalvid.pipelines.finalize import finalize as write_finalize

    if is_url(out):
        summary, skipped, done = remote.generate(cfg, str(out), selected, make, tmp, overwrite,
                                                 workers)
    else:
        out = Path(out)
        summary, skipped, done = _local(cfg, out, selected, everything, make, overwrite, warn)
    dataset = None
    if finalize and done == len(everything):
        dataset = remote.finalize(cfg, str(out)) if is_url(out) else write_finalize(cfg, out)
    return Generated(out, renderer, workers, summary.made, summary.skipped + skipped,
                     summary.clips, summary.seconds, dataset, done, len(everything))


def _local(cfg: Config, out: Path, shards: list[ShardSpec], everything: list[ShardSpec], make,
           overwrite: bool, warn: Callable[[str], None]):
    """Make ``shards`` in the folder ``out``: (summary, 0 found done elsewhere, shards of the
    plan done there now)."""
    from fractalvid.pipelines.outdir import claim_output
    from fractalvid.pipelines.progress import shards_done
    from fractalvid.pipelines.sizing import disk_warning

    try:
        claim_output(cfg, out, overwrite)
    except OSError as exc:  # read-only, no permission, a file on the path
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror})") from None
    if warning := disk_warning(cfg, shards, out):
        warn(warning)
    summary = make(shards, out)
    done = len(everything) if len(shards) == len(everything) else shards_done(cfg, out)
    return summary, 0, done


def verify(out: str | Path, deep: bool = False, workers: int | None = None,
           progress: bool = False) -> list[str]:
    """The problems found in the data set at ``out``, in shard order; empty when it is sound
    (see ``fractalvid verify``)."""
    from fractalvid.pipelines.sizing import cpu_count
    from fractalvid.shards.verify import verify as check

    if is_url(out):
        from fractalvid.pipelines import remote

        return remote.verify(str(out), deep=deep, workers=workers or cpu_count())
    return check(Path(out), deep=deep, workers=workers or cpu_count(), progress=progress)

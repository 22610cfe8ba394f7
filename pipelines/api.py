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

from ..shards.store import PlaceError, Store, open_store
from .config import Config, ConfigError, as_config
from .plan import ShardSpec, plan_shards
from .timelimit import TimeLimitReached


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
    time_limit: float | None = None,
) -> Generated:
    """Generate (or resume) ``config``'s data set in ``out`` (a folder, or an fsspec URL such
    as ``s3://bucket/prefix``): claim it, make every shard of ``shards`` (default: all) not yet
    done, then finalize once all are done. For a URL, shards are made in node-local scratch
    (``tmp``, else TMPDIR) and uploaded as each is done.

    ``workers`` defaults to what the cores and the memory hold; warnings (memory, disk) go to
    ``warn``. Raises ConfigError, before any work, for a folder or store that cannot be used or
    a backend that cannot run here. ``time_limit`` (seconds from now): no shard is started
    that could not finish by then (at the pace measured so far); if any was left, the run
    raises TimeLimitReached once the others are done (and uploaded), and a rerun resumes.
    """
    from ..gen.generators import renderer_for
    from .finalize import finalize as write_finalize
    from .options import RunOptions
    from .outdir import claim_output
    from .progress import shards_done
    from .run import run_shards
    from .sizing import default_workers, disk_warning, memory_warning
    from .staging import staging

    cfg = as_config(config)
    everything = plan_shards(cfg)
    selected = list(everything if shards is None else shards)
    if any(s not in everything for s in selected):
        bad = next(s for s in selected if s not in everything)
        raise ConfigError(f"shards: {bad!r} is not a shard of this config's plan (take them "
                          "from plan_shards(config))")
    for name, value in (("workers", workers), ("batch", batch)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"{name}={value!r}: expected a whole number of at least 1")
    try:
        renderer = renderer_for(cfg.generator_spec, backend).name
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    workers = min(workers or default_workers(renderer, cfg, batch), max(1, len(selected)))
    if warning := memory_warning(cfg, renderer, workers, batch):
        warn(warning)

    if time_limit is not None and not time_limit > 0:
        raise ConfigError(f"time_limit={time_limit!r}: expected seconds, more than zero")
    from . import run as runner

    deadline = None if time_limit is None else runner._clock() + time_limit
    options = RunOptions(renderer, workers, batch, progress, deadline)
    store = _store(out)
    with staging(cfg, store, tmp, threads=max(2, workers)) as stage:
        try:
            claim_output(cfg, store, overwrite)
        except OSError as exc:  # read-only, no permission, a file on the path
            raise ConfigError(f"--out {store}: cannot write there ({exc.strerror})") from None
        if store.folder is not None and (warning := disk_warning(cfg, selected, store.folder)):
            warn(warning)
        todo = stage.todo(selected, cfg)
        by_name = {s.name: s for s in todo}
        summary = run_shards(cfg, todo, stage.folder, options,
                             on_result=lambda r: stage.publish(by_name[r.name]))
    found = len(selected) - len(todo)  # done in the store before this run
    whole = len(selected) == len(everything) and not summary.stopped
    done = len(everything) if whole else shards_done(cfg, store)
    if summary.stopped:
        raise TimeLimitReached(done, len(everything))
    dataset = write_finalize(cfg, store) if finalize and done == len(everything) else None
    return Generated(store.place, renderer, workers, summary.made, summary.skipped + found,
                     summary.clips, summary.seconds, dataset, done, len(everything))


def _store(out: Store | str | Path, exists: bool = False) -> Store:
    """The store of ``out``, checked now: ConfigError, in one line, when it will not do."""
    try:
        store = open_store(out)
        store.check(exists=exists)
    except PlaceError as exc:
        raise ConfigError(str(exc)) from None
    return store


def verify(out: str | Path, deep: bool = False, workers: int | None = None,
           progress: bool = False) -> list[str]:
    """The problems found in the data set at ``out`` (a folder or a URL), in shard order;
    empty when it is sound (see ``fractalvid verify``). ConfigError, in one line, for a place
    that cannot be read."""
    from ..shards.verify import verify as check
    from .outdir import config_of
    from .sizing import cpu_count

    store = _store(out, exists=True)
    try:
        plan = {s.name for s in plan_shards(config_of(store))}
    except ConfigError:  # no sound config record: dataset.json's names are checked by form
        plan = None
    return check(store, deep=deep, workers=workers or cpu_count(), progress=progress,
                 plan=plan)

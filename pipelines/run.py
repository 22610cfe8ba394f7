"""Running shards: in this process or in joblib worker processes, with progress and a log."""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..gen.chaos import compiled_before
from ..gen.engines import get_renderer
from .config import Config
from .options import RunOptions
from .outdir import LOG_FILE
from .plan import ShardSpec
from .shard import ShardResult, run_shard
from .sizing import default_batch


def watch_parent(parent: int, period: float = 1.0) -> None:
    """Exit this worker process once ``parent`` (the main process) is gone: after a kill -9 or
    a lost terminal, a worker would otherwise finish its shards and idle for minutes, holding
    its memory. What it was writing stays a temporary, which the next run removes. Run once,
    as each worker process starts (the pool's initializer)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period)
        os._exit(1)

    threading.Thread(target=watch, name="fractalvid-watch-parent", daemon=True).start()


_clock = time.time  # wall-clock seconds, the same in every worker process (tests replace it)
_pace: dict[str, float] = {}  # seconds a clip took in this process's last shard


def _fits(cfg: Config, shard: ShardSpec, deadline: float | None) -> bool:
    """True when ``shard`` can be finished by ``deadline``, at the pace this process last
    measured (before its first shard: the plan's estimate)."""
    if deadline is None:
        return True
    from .plan import estimates

    per_clip = _pace.get("per_clip")
    if per_clip is None:
        per_clip = estimates(cfg)[1] / max(1, cfg.train_clips + cfg.val_clips)
    return _clock() + per_clip * shard.count <= deadline


@functools.cache
def _renderer(backend: str):
    """One renderer per backend in each process, made at its first shard."""
    return get_renderer(backend)


def _worker(cfg: Config, shard: ShardSpec, out: str, options: RunOptions) -> ShardResult:
    import numba

    if not _fits(cfg, shard, options.deadline):
        return ShardResult(shard.name, shard.count, False, 0.0, stopped=True)
    numba.set_num_threads(max(1, min(options.threads, numba.config.NUMBA_NUM_THREADS)))
    start = _clock()
    # The objects alive before the shard (modules, kernels: most of the heap) are left out
    # of the collector's full passes while it is made: a pass over them costs a still's
    # shard several percent. (Not where someone else froze objects: theirs stay frozen.)
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        result = run_shard(cfg, shard, Path(out), _renderer(options.backend),
                           batch=options.batch, encoders=options.encoders)
    finally:
        if freeze:
            gc.unfreeze()
    if not result.skipped:
        _pace["per_clip"] = (_clock() - start) / max(1, result.count)
    return result


@dataclass(frozen=True)
class RunSummary:
    made: int
    skipped: int
    clips: int
    seconds: float
    peak_rss_mb: float = 0.0  # the largest of any worker's peak
    stopped: int = 0  # shards not started: they could not finish by the time limit

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0


def open_log(out: Path) -> logging.Logger:
    log = logging.getLogger(f"fractalvid.run.{out.resolve()}")
    if not log.handlers:
        handler = logging.FileHandler(out / LOG_FILE)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def run_shards(
    cfg: Config,
    shards: Sequence[ShardSpec],
    out: Path,
    options: RunOptions | None = None,
    on_result: Callable[[ShardResult], None] | None = None,
) -> RunSummary:
    """Make every shard of ``shards`` not already done in ``out``, as ``options`` say:
    ``options.workers`` at a time, ``options.batch`` clips per render call (by default the
    backend's ``default_batch``). On the GPU each worker encodes with as many ffmpeg
    threads as it has cores. ``on_result`` is called in this process as each shard is done
    (made or found done). With ``options.deadline``, a shard is started only if it can
    finish by then at the pace measured so far; the others are counted in ``stopped``.
    """
    from tqdm import tqdm

    log = open_log(out)
    options = options or RunOptions(progress=True)
    options = replace(options, batch=options.batch or default_batch(options.backend, cfg))
    log.info("start: %d shards, backend=%s workers=%d threads/worker=%d encoders/worker=%d "
             "batch=%d fingerprint=%s", len(shards), options.backend, options.workers,
             options.threads, options.encoders, options.batch, cfg.fingerprint())
    bar = tqdm(total=sum(s.count for s in shards), unit="clip", disable=not options.progress,
               dynamic_ncols=True, desc=f"{out.name}")
    if options.backend == "cpu" and shards and compiled_before() is False:
        note = "first run: compiling the CPU kernels once (1-3 min; cached for later runs)"
        bar.set_postfix_str(note)
        log.info(note)
        _compile(cfg, shards[0], options.backend)  # once here, not in every worker at once
        bar.reset()  # the rate and the time left count from now
    start = time.perf_counter()
    results = _results(cfg, shards, str(out), options)
    try:
        made, skipped, clips, peak, stopped = _tally(results, len(shards), bar, log, on_result)
    except BaseException as exc:
        log.error("stopped: %r", exc)
        results.close()  # now: stops the workers and frees their queues before the exit
        raise
    finally:
        bar.close()
    summary = RunSummary(made, skipped, clips, time.perf_counter() - start, peak, stopped)
    if stopped:
        log.info("time limit: %d shards not started (they could not finish in time)", stopped)
    log.info("done: %d shards made, %d skipped, %d clips in %.1f s (%.2f clips/s)",
             summary.made, summary.skipped, summary.clips, summary.seconds, summary.clips_per_s)
    return summary


def _compile(cfg: Config, shard: ShardSpec, backend: str) -> None:
    """Compile (and cache on disk) the kernels a run needs by making one clip of ``shard`` in
    this process; the workers then load them from numba's cache."""
    from .clips import donor_blocks
    from .plan import clip_specs
    from .produce import make_clips

    block = donor_blocks(clip_specs(cfg, shard))[0]
    for _ in make_clips(cfg, [block], _renderer(backend), batch=1, figures=False):
        break


def _results(cfg: Config, shards: Sequence[ShardSpec], out: str, options: RunOptions):
    """ShardResults as shards finish: in this process, or from ``options.workers`` loky
    processes."""
    from joblib import Parallel, delayed

    workers = options.workers
    if workers <= 1:
        return (_worker(cfg, s, out, options) for s in shards)
    tasks = (delayed(_worker)(cfg, s, out, options) for s in shards)
    # Each worker watches this process from its start, before its first task: a kill -9 here
    # right after the workers are spawned must not leave them waiting for work.
    return Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered",
                    initializer=watch_parent, initargs=(os.getpid(),))(tasks)


def _tally(results, total: int, bar, log, on_result=None
           ) -> tuple[int, int, int, float, int]:
    """(made, skipped, clips made, the largest worker peak RSS, stopped by the time limit),
    updating bar and log."""
    made = skipped = clips = stopped = 0
    peak = 0.0
    for r in results:
        if r.stopped:
            stopped += 1
            continue
        if on_result is not None:
            on_result(r)
        made += not r.skipped
        skipped += r.skipped
        clips += 0 if r.skipped else r.count
        peak = max(peak, r.peak_rss_mb)
        bar.update(r.count)
        bar.set_postfix_str(f"shards {made + skipped}/{total}")
        log.info("%s %s: %d clips in %.1f s, worker peak RSS %.0f MB", r.name,
                 "skipped (done)" if r.skipped else "made", r.count, r.seconds, r.peak_rss_mb)
    return made, skipped, clips, peak, stopped

"""Running shards: in this process or in joblib worker processes, with progress and a log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fractalvid import __version__
from fractalvid.gen.chaos import compiled_before
from fractalvid.gen.render import get_renderer
from fractalvid.pipelines.config import Config, ConfigError
from fractalvid.pipelines.plan import ShardSpec
from fractalvid.pipelines.shard import ShardResult, run_shard
from fractalvid.pipelines.sizing import cpu_count, default_batch
from fractalvid.shards.atomic import write_atomic

CONFIG_FILE = "config.json"
LOG_FILE = "generate.log"
# Everything fractalvid writes into OUT; --overwrite removes only these.
OWNED = ("*.tar", "*.parquet", "*.stats.json", "index.*.json", "dataset.json", "README.md",
         "preview.png", CONFIG_FILE, ".*.tmp")  # fmt: skip


def claim_output(cfg: Config, out: Path, overwrite: bool = False) -> None:
    """Make ``out`` hold this config's data set: record the config, or refuse another's.

    Raises ConfigError when ``out`` was made with a different config (unless ``overwrite``,
    which first deletes what fractalvid wrote there).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text()).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            old = None
        if old != cfg.fingerprint():
            if not overwrite:
                raise ConfigError(
                    f"{out} holds a data set made with another config (fingerprint {old}, "
                    f"this one {cfg.fingerprint()}); choose another --out or pass --overwrite"
                )
            for pattern in OWNED:
                for p in out.glob(pattern):
                    p.unlink()
    elif any(out.glob("*.tar")):
        if not overwrite:
            raise ConfigError(f"{out} has tar files but no {CONFIG_FILE}; pass --overwrite")
        for p in out.glob("*.tar"):
            p.unlink()
    record = {"fingerprint": cfg.fingerprint(), "fractalvid_version": __version__,
              "config": cfg.to_dict()}  # fmt: skip
    write_atomic(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


def _worker(cfg: Config, shard: ShardSpec, out: str, backend: str, threads: int, batch: int,
            encoders: int) -> ShardResult:  # fmt: skip
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return run_shard(cfg, shard, Path(out), get_renderer(backend), batch=batch,
                     encoders=encoders)  # fmt: skip


@dataclass(frozen=True)
class RunSummary:
    made: int
    skipped: int
    clips: int
    seconds: float
    peak_rss_mb: float = 0.0  # the largest of any worker's peak

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
    backend: str = "cpu",
    workers: int = 1,
    batch: int | None = None,
    progress: bool = True,
) -> RunSummary:
    """Make every shard of ``shards`` not already done in ``out``, ``workers`` at a time.

    ``batch``: clips per render call (default: ``default_batch`` of the backend's renderer).
    On the GPU each worker encodes with as many ffmpeg threads as it has cores.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    log = open_log(out)
    renderer = get_renderer(backend).name
    batch = batch or default_batch(renderer, cfg)
    threads = max(1, cpu_count() // max(1, workers))
    encoders = threads if renderer == "gpu" else 1
    log.info("start: %d shards, backend=%s workers=%d threads/worker=%d encoders/worker=%d "
             "batch=%d fingerprint=%s", len(shards), renderer, workers, threads, encoders, batch,
             cfg.fingerprint())  # fmt: skip
    total = sum(s.count for s in shards)
    bar = tqdm(total=total, unit="clip", disable=not progress, dynamic_ncols=True,
               desc=f"{out.name}")  # fmt: skip
    if renderer == "cpu" and shards and not compiled_before():
        note = "first run: compiling the CPU kernels (about 15 s; cached for later runs)"
        bar.set_postfix_str(note)
        log.info(note)
    start = time.perf_counter()
    made = skipped = clips = 0
    peak = 0.0
    tasks = (delayed(_worker)(cfg, s, str(out), renderer, threads, batch, encoders)
             for s in shards)  # fmt: skip
    if workers <= 1:
        results = (task[0](*task[1], **task[2]) for task in tasks)
    else:
        results = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")(tasks)
    try:
        for r in results:
            made += not r.skipped
            skipped += r.skipped
            clips += 0 if r.skipped else r.count
            peak = max(peak, r.peak_rss_mb)
            bar.update(r.count)
            bar.set_postfix_str(f"shards {made + skipped}/{len(shards)}")
            log.info("%s %s: %d clips in %.1f s, worker peak RSS %.0f MB", r.name,
                     "skipped (done)" if r.skipped else "made", r.count, r.seconds,
                     r.peak_rss_mb)  # fmt: skip
    except BaseException as exc:
        log.error("stopped: %r", exc)
        results.close()  # now: stops the workers and frees their queues before the exit
        raise
    finally:
        bar.close()
    summary = RunSummary(made, skipped, clips, time.perf_counter() - start, peak)
    log.info("done: %d shards made, %d skipped, %d clips in %.1f s (%.2f clips/s)",
             made, skipped, clips, summary.seconds, summary.clips_per_s)  # fmt: skip
    return summary


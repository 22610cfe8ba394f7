"""The ``fractalvid`` command line: a thin layer that builds a Config and calls the pipeline."""

from __future__ import annotations

import errno
import json
import re
import shlex
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from ..gen.generators import GENERATORS
from ..shards.store import PlaceError, Store, StoreError, open_store
from .config import (
    KEYS,
    PRESETS_BY_NAME,
    Config,
    ConfigError,
    build_config,
    load_config_file,
    parse_sets,
)
from .version import __version__

SHARD_FILE = re.compile(r"(train|val)-\d{6}\.(tar|parquet|stats\.json)\b")


class UsageFailure(click.ClickException):
    """One line on stderr, exit code 2, before any work."""

    exit_code = 2


class TimeUp(click.ClickException):
    """``--time-limit`` reached: whole shards are done, a rerun resumes (exit 3)."""

    exit_code = 3


class Interrupted(click.ClickException):
    """Ctrl-C or SIGTERM (a scheduler's time limit, scancel): one line, exit 128 + signal."""

    def __init__(self, signum: int, out: Path):
        super().__init__(f"stopped by {signal.Signals(signum).name}: finished shards are kept in "
                         f"{out}; rerun the same command to resume")
        self.exit_code = 128 + signum


@contextmanager
def _stoppable():
    """SIGTERM and SIGHUP (a closed terminal) raise KeyboardInterrupt, as Ctrl-C does, while
    the block runs, so all stop through the same path: workers shut down, the log and the
    progress bar closed."""

    def stop(signum, frame):
        raise KeyboardInterrupt(signum)

    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _os_failure(exc: OSError, out: object, resumable: bool) -> click.ClickException:
    """One line for a failed write into OUT (or the scratch folder the error names): a full
    disk, read-only or forbidden storage."""
    then = "; finished shards are kept, and a rerun resumes" if resumable else ""
    if exc.errno == errno.ENOSPC:
        return click.ClickException(f"no space left on the device of {exc.filename or out}: "
                                    f"free space and rerun{then}")
    where = exc.filename or out
    return click.ClickException(f"{where}: cannot write there ({exc.strerror or exc}){then}")


def _config(preset: str | None, config_file: str | None, sets: tuple[str, ...]) -> Config:
    try:
        base: dict = {}
        if config_file:
            file_preset, base = load_config_file(config_file)
            if preset and file_preset and preset != file_preset:
                raise ConfigError(f"--preset {preset} and {config_file}'s \"preset\": "
                                  f"{file_preset!r} disagree; give one of them")
            preset = preset or file_preset
        return build_config(preset or "tiny", parse_sets(sets), base)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


def config_options(f):
    f = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key (repeatable); see `fractalvid keys`.")(f)
    f = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="JSON config file (or an output folder's dataset.json/config.json).")(f)
    f = click.option("--preset", type=click.Choice(sorted(PRESETS_BY_NAME)), default=None,
                     help="Preset to start from (default: tiny).")(f)
    return f


def _selected(cfg: Config, shards_opt: str | None, array_task: str | None,
              array_tasks: int | None):
    from .cluster import array_task as detect
    from .plan import parse_range, plan_shards, task_range

    shards = plan_shards(cfg)
    try:
        if shards_opt and array_task:
            raise ValueError("use either --shards or --array-task, not both")
        if array_tasks and not array_task:  # else every task would make the whole data set
            raise ValueError("--array-tasks needs --array-task K (or auto), this task's number")
        if shards_opt:
            return [shards[i] for i in parse_range(shards_opt, len(shards))], True
        if array_task:
            if array_task == "auto":
                task, count, var = detect()
                if array_tasks and count and array_tasks != count:
                    raise ValueError(f"--array-tasks {array_tasks}, but the scheduler runs "
                                     f"{count} tasks ({var.replace('_ID', '_COUNT')}); give the "
                                     "same number, or leave --array-tasks out")
            elif array_task.lstrip("-").isdigit():
                task, count = int(array_task), None
            else:
                raise ValueError(f"--array-task {array_task!r}: expected a task number or auto")
            count = array_tasks or count
            if not count:
                raise ValueError("--array-task needs --array-tasks K (the number of tasks)")
            return [shards[i] for i in task_range(task, count, len(shards))], True
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    return shards, False


def _count(n: int, noun: str) -> str:
    """'1 shard', '2 shards'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _splits(dataset: dict) -> str:
    """dataset.json's splits and size in words: 'train 240 clips in 15 shards, ...'."""
    parts = [f"{name} {_count(s['clips'], 'clip')} in {_count(s['shards'], 'shard')}"
             for name, s in dataset["splits"].items() if s["clips"]]
    return f"{', '.join(parts)}; {dataset['bytes'] / 1e6:.1f} MB"


def _claim(cfg: Config, store: Store, overwrite: bool) -> None:
    """OUT made ready for ``cfg`` (outdir.claim_output), or one line saying why it cannot be."""
    from .outdir import claim_output

    try:
        store.check()
        claim_output(cfg, store, overwrite)
    except (ConfigError, PlaceError) as exc:
        raise UsageFailure(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # read-only, no permission, a file on the path
        raise UsageFailure(f"--out {store}: cannot write there ({exc.strerror})") from None


def _open(out: str) -> Store:
    """The store OUT names (not contacted yet), or one line saying why it cannot be one."""
    _out_given(out)
    try:
        return open_store(out)
    except PlaceError as exc:
        raise UsageFailure(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fractalvid")
def main() -> None:
    """Generate fractal-video pre-training data sets (WebDataset shards + Parquet)."""


@main.command()
@config_options
@click.option("--out", required=True,
              help="Output folder, or a URL such as s3://bucket/prefix.")
@click.option("--backend", type=click.Choice(["cpu", "gpu", "auto"]), default="cpu",
              show_default=True, help="Renderer.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU core, fewer if memory holds fewer; "
                   "on the GPU, one per core up to 16 and what its memory holds, each encoding on "
                   "cores/workers threads).")
@click.option("--shards", "shards_opt", metavar="A:B", help="Only shards A..B-1 (plan order).")
@click.option("--array-task", metavar="auto|K",
              help="Only this array task's shards; auto reads SLURM/PBS/SGE/LSF/K8s/AWS vars.")
@click.option("--array-tasks", type=click.IntRange(min=1), help="Number of array tasks.")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Clips per render call, rounded up to whole blocks of 8 background donors "
                   "(default: 8 on the CPU; 128 on the GPU, fewer if its memory is small).")
@click.option("--overwrite", is_flag=True, help="Replace a data set made with another config.")
@click.option("--no-finalize", is_flag=True, help="Skip finalize after a complete run.")
@click.option("--tmp", type=click.Path(file_okay=False),
              help="Node-local scratch for shards bound for an --out URL (default: TMPDIR); "
                   "the run makes a folder of its own there and removes it at the end.")
@click.option("--time-limit", "time_limit", metavar="DURATION",
              help="Start no shard that cannot finish by then (90s, 45m, 2h30m, HH:MM:SS); "
                   "stop at whole shards, exit 3, and resume on a rerun.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(preset, config_file, sets, out, backend, workers, shards_opt, array_task,
             array_tasks, batch, overwrite, no_finalize, tmp, time_limit, quiet):
    """Generate (or resume) a data set into OUT."""
    from .api import generate as run
    from .timelimit import parse_duration

    store = _open(out)
    try:
        seconds = parse_duration(time_limit) if time_limit is not None else None
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    cfg = _config(preset, config_file, sets)
    selected, partial = _selected(cfg, shards_opt, array_task, array_tasks)
    if not selected:  # more array tasks than shards: this one has none, which is no error
        click.echo("this array task has no shards to make (more tasks than shards); done",
                   err=True)
        return
    if backend == "auto" and not quiet:
        _say_backend(cfg)
    out_path = store.place
    try:
        with _stoppable():
            result = run(cfg, store, backend=backend, workers=workers, batch=batch,
                         shards=selected, overwrite=overwrite, progress=not quiet,
                         finalize=not (partial or no_finalize), tmp=tmp, time_limit=seconds,
                         warn=lambda line: click.echo(line, err=True))
    except BaseException as exc:
        raise _generate_failure(exc, out_path, workers) from None
    click.echo(f"{_count(result.made, 'shard')} made, {result.skipped} already done; "
               f"{_count(result.clips, 'clip')} in {result.seconds:.1f} s "
               f"({result.clips_per_s:.2f} clips/s) -> {out_path}", err=True)
    if result.dataset is not None:
        _say_kept(store, result.dataset)
        click.echo(f"finalized {out_path}: {_splits(result.dataset)}", err=True)
    elif partial:  # other tasks may still be writing: say where the data set stands, no more
        then = "now" if result.done == result.total else "once all are,"
        click.echo(f"{result.done} of {_count(result.total, 'shard')} of the data set done; "
                   f"{then} run `fractalvid finalize {shlex.quote(str(out_path))}`", err=True)


def _say_backend(cfg: Config) -> None:
    """--backend auto: say which backend it takes for ``cfg``'s generator, and why not the
    GPU."""
    from ..gen.generators import renderer_for
    from .info import gpu_report

    gen = cfg.generator_spec
    try:
        on_gpu = renderer_for(gen, "auto").name == "gpu"
    except (RuntimeError, ValueError):
        return
    if not gen.gpu:
        click.echo(f"--backend auto: the CPU (the {gen.name} generator renders on the CPU "
                   "only)", err=True)
        return
    gpu = gpu_report()
    click.echo(f"--backend auto: the GPU ({gpu['name']})" if on_gpu else
               f"--backend auto: the CPU (no GPU: {gpu['reason']})", err=True)


def _generate_failure(exc: BaseException, out: Path, workers: int | None) -> BaseException:
    """The one line (and exit code) for what stopped ``generate``."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    from ..gen.render_gpu import out_of_gpu_memory
    from .finalize import IncompleteError
    from .timelimit import TimeLimitReached

    kept = "finished shards are kept, and a rerun resumes"
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(exc.args[0] if exc.args else signal.SIGINT, out)
    if isinstance(exc, ConfigError):
        return UsageFailure(str(exc))
    if isinstance(exc, TimeLimitReached):
        return TimeUp(str(exc))
    if isinstance(exc, TerminatedWorkerError):  # the kernel's out-of-memory killer, a kill -9
        return click.ClickException("a worker process was killed (often the out-of-memory "
                                    f"killer; see `dmesg`): pass fewer --workers; {kept}")
    if out_of_gpu_memory(exc):
        return click.ClickException(f"the GPU ran out of memory with {workers or 'the default'}"
                                    " worker(s): pass fewer --workers or a smaller --batch; "
                                    f"{kept}")
    if isinstance(exc, (IncompleteError, StoreError)):
        return click.ClickException(f"{exc}; {kept}" if isinstance(exc, StoreError) else str(exc))
    if isinstance(exc, OSError):
        return _os_failure(exc, out, resumable=True)
    return exc


@main.command()
@config_options
@click.option("--tasks", type=click.IntRange(min=1), default=1, show_default=True,
              help="Array tasks to split the shards over.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(preset, config_file, sets, tasks, as_json):
    """Print what would be generated: classes, clips, shards, tasks, disk estimate."""
    from .report import format_report, plan_report

    report = plan_report(_config(preset, config_file, sets), tasks)
    click.echo(json.dumps(report, indent=1) if as_json else "\n".join(format_report(report)))


@main.command()
@config_options
@click.option("--out", required=True,
              help="Output folder, or a URL such as s3://bucket/prefix.")
@click.option("--tasks", type=click.IntRange(min=1), required=True, help="Array tasks.")
@click.option("--throttle", type=click.IntRange(min=1), help="At most this many tasks at once.")
@click.option("--cpus-per-task", type=click.IntRange(min=1), default=4, show_default=True,
              help="CPU cores per task (its worker processes).")
@click.option("--time", "time_limit", metavar="HH:MM:SS", help="Time limit per task.")
@click.option("--partition", help="SLURM partition.")
@click.option("--mem", help="Memory per task, e.g. 8G (`plan` says what a worker needs; "
              "about 0.3 GB at 256 px).")
@click.option("--account", help="SLURM account.")
@click.option("--submit", is_flag=True, help="Submit the array and the finalize job (sbatch).")
@click.option("--wait", is_flag=True, help="With --submit: block until finalize has run.")
@click.option("--overwrite", is_flag=True, help="Replace a data set made with another config.")
def slurm(preset, config_file, sets, out, tasks, throttle, cpus_per_task, time_limit, partition,
          mem, account, submit, wait, overwrite):
    """Write (and with --submit, submit) a SLURM array job for OUT, plus a finalize job.

    Each task generates its contiguous range of shards (from SLURM_ARRAY_TASK_ID and
    SLURM_ARRAY_TASK_COUNT); finalize runs after all succeed (--dependency=afterok).
    """
    from .outdir import CONFIG_FILE
    from .plan import plan_shards
    from .slurm import SLURM_DIR, SlurmJob, check_folder, write_scripts
    from .slurm import submit as run_submit

    store = _open(out)
    cfg = _config(preset, config_file, sets)
    n_shards = len(plan_shards(cfg))
    if tasks > n_shards:
        raise UsageFailure(f"--tasks {tasks}: the data set has only {n_shards} shards; "
                           f"use at most {n_shards} tasks (or a smaller shard_size)")
    if wait and not submit:
        raise UsageFailure("--wait needs --submit")
    try:
        job = SlurmJob(tasks, throttle, cpus_per_task, time_limit, partition, mem, account)
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    here = store.folder.resolve() / SLURM_DIR if store.folder is not None else \
        Path.cwd() / f"fractalvid-slurm-{cfg.fingerprint()}"
    try:
        check_folder(here)
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    _claim(cfg, store, overwrite)
    if store.folder is None:  # the store holds the data set; the scripts and logs a folder here
        here.mkdir(parents=True, exist_ok=True)
        (here / CONFIG_FILE).write_bytes(store.read(CONFIG_FILE))
        scripts = write_scripts(store.url, here / CONFIG_FILE, job, folder=here)
    else:
        scripts = write_scripts(store.folder, store.folder / CONFIG_FILE, job)
    click.echo(f"wrote {scripts[0]} ({tasks} tasks, {n_shards} shards) and {scripts[1]}")
    if not submit:
        gen, fin = (shlex.quote(str(p)) for p in scripts)
        click.echo(f"submit with: jid=$(sbatch --parsable {gen}) && "
                   f"sbatch --dependency=afterok:$jid {fin}")
        return
    try:
        array_id, fin_id = run_submit(scripts, wait=wait)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"submitted array job {array_id} and finalize job {fin_id}"
               + (" (finished)" if wait else ""))


def _out_given(out: str) -> None:
    """``--out ''`` (or an empty OUT argument) must not mean the current folder."""
    if not out or not out.strip():
        raise UsageFailure("the output folder is empty: name one (. for the current folder)")


def _data_set(out: str) -> Store:
    """The store of a command that reads a data set: named, reachable, and there."""
    store = _open(out)
    try:
        store.check(exists=True)
    except PlaceError as exc:
        raise UsageFailure(str(exc)) from None
    return store


def _load_out_config(store: Store) -> Config:
    """The config OUT was made with, from whichever of its records is sound."""
    from .outdir import config_of

    try:
        return config_of(store)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _finalize(cfg: Config, store: Store) -> dict:
    """finalize, with its failures in one line each."""
    from .finalize import IncompleteError, finalize

    try:
        dataset = finalize(cfg, store)
    except (IncompleteError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise _os_failure(exc, store, resumable=False) from None
    _say_kept(store, dataset)
    return dataset


def _say_kept(store: Store, dataset: dict) -> None:
    """Name the card or preview that finalize left alone (not as fractalvid wrote them)."""
    from .outdir import GUARDED

    for name in (n for n in GUARDED if n not in dataset["written"] and store.stat(n)):
        click.echo(f"{store.join(name)}: left as it is (not as fractalvid wrote it); delete it "
                   "to get fractalvid's", err=True)


@main.command("finalize")
@click.argument("out")
def finalize_cmd(out):
    """Write dataset.json, tables, indices, card and preview once every shard is done."""
    store = _data_set(out)
    dataset = _finalize(_load_out_config(store), store)
    click.echo(f"finalized {store.place}: {_splits(dataset)}")


@main.command()
@click.argument("out")
@click.option("--deep", is_flag=True, help="Also decode every MP4.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Shards checked at once (default: one per CPU core).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def verify(out, deep, workers, quiet):
    """Check every shard against dataset.json; exit 1 listing the problems."""
    from .api import verify as run_verify

    store = _data_set(out)
    try:
        problems = run_verify(store, deep=deep, workers=workers, progress=not quiet)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for p in problems:
        click.echo(p, err=True)
    if problems:
        click.echo(_repair(store, problems), err=True)
        raise SystemExit(1)
    click.echo(f"{out}: ok")


def _repair(store: Store, problems: list[str]) -> str:
    """The commands that repair what verify found: a damaged or missing shard is made again
    by generate with the data set's own config (its done marker no longer vouches for it),
    then finalize rewrites the tables, indices and dataset.json."""
    import shutil

    exe = "fractalvid" if shutil.which("fractalvid") else \
        f"{shlex.quote(sys.executable)} -m fractalvid"
    place = shlex.quote(str(store.place))
    shards = [p for p in problems if SHARD_FILE.match(p)]
    if not shards:
        return f"to repair: {exe} finalize {place}"
    config, fetch = shlex.quote(str(store.join("config.json"))), ""
    if store.folder is None:  # --config takes a local file
        fetch, config = f"{exe} cat {config} > config.json && ", "config.json"
    return (f"to repair: {fetch}{exe} generate --config {config} --out {place} --quiet "
            f"&& {exe} finalize {place}")


@main.command()
@click.argument("out")
@click.option("--rows", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--cols", type=click.IntRange(min=1), default=6, show_default=True)
def preview(out, rows, cols):
    """Write OUT/preview.png: frames of one clip per class."""
    from .finalize import update_preview

    store = _data_set(out)
    try:
        path = update_preview(store, rows, cols)
    except StoreError as exc:  # a store that cannot be read or written
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM):
            raise _os_failure(exc, store, resumable=False) from None
        raise click.ClickException(f"{exc} (run `fractalvid finalize {out}` first?)") from None
    except ValueError as exc:
        raise click.ClickException(f"{exc} (run `fractalvid finalize {out}` first?)") from None
    if path is None:
        raise click.ClickException(f"{store.join('preview.png')}: not as fractalvid wrote "
                                   "it; left as it is (move it away to get a new preview)")
    click.echo(str(path))


@main.command()
@click.argument("out")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats(out, as_json):
    """Print the data set's quality: coverage and motion percentiles, the degenerate rate,
    redraws, and clips per variation and per compose operation."""
    from .stats import dataset_stats, format_stats, load_clips

    store = _data_set(out)
    try:
        figures = dataset_stats(load_clips(store))
    except (OSError, ValueError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(figures, indent=1) if as_json else format_stats(figures))


@main.command()
@click.argument("out")
@click.argument("key")
@click.option("--gif", "gif", type=click.Path(dir_okay=False), help="Write the clip as a GIF.")
@click.option("--mp4", "mp4", type=click.Path(dir_okay=False), help="Write the clip as an MP4.")
@click.option("--png", "png", type=click.Path(dir_okay=False),
              help="Write a still (or a clip's middle frame) as a PNG.")
def show(out, key, gif, mp4, png):
    """Export clip KEY of the data set OUT as an animated GIF (default: KEY.gif here) or an
    MP4, to watch it move; a still image as a PNG (default: KEY.png here)."""
    from .show import export_clip

    store = _data_set(out)
    if sum(bool(x) for x in (gif, mp4, png)) > 1:
        raise UsageFailure("give one of --gif, --mp4 and --png")
    given = mp4 or gif or png
    kind = "mp4" if mp4 else "gif" if gif else "png" if png else None
    target = Path(given) if given else Path(key)
    try:
        target, frames = export_clip(store, key, Path(given) if given else None, kind)
    except FileExistsError as exc:
        raise UsageFailure(str(exc)) from None
    except (KeyError, ValueError, StoreError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    except OSError as exc:
        raise _os_failure(exc, target, resumable=False) from None
    click.echo(f"{target}: clip {key}, {frames} frame{'s' if frames != 1 else ''}")


@main.command()
@click.argument("url")
def cat(url):
    """Write a file or object (a path or a URL such as s3://bucket/key) to stdout: for
    webdataset's "pipe:fractalvid cat URL" shard URLs."""
    import shutil

    from ..shards.store import open_read

    try:
        with open_read(url) as fh:
            shutil.copyfileobj(fh, click.get_binary_stream("stdout"), 1 << 20)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except FileNotFoundError:
        raise click.ClickException(f"{url}: not found") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{url}: {exc}") from None


@main.command()
@click.option("--markdown", is_flag=True, help="As the table of docs/keys.md.")
@click.option("--generator", "generator", type=click.Choice(list(GENERATORS)),
              help="Only the keys a config of this generator takes.")
@click.option("--media", "media", type=click.Choice(["video", "image"]),
              help="Only the keys a config of this media takes (with --generator: of both).")
def keys(markdown, generator, media):
    """List the config keys with their defaults (as --set takes them) and meaning; a key of
    one generator is marked [NAME]."""
    from .config import OWNERS, foreign, keys_markdown

    if markdown:
        click.echo(keys_markdown(), nl=False)
        return
    for k in KEYS:
        if (generator or media) and foreign(k.name, generator or OWNERS.get(k.name, "fractal"),
                                            media or "video"):
            continue
        owner = f"[{OWNERS[k.name]}] " if k.name in OWNERS else ""
        click.echo(f"{k.name:<22} {k.shown:<24} {owner}{k.help}")


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def info(preset, config_file, sets, as_json):
    """What this machine offers: versions, cores, ffmpeg, the GPU (or why none is used), and the
    defaults `generate` takes here for the config (default: the tiny preset)."""
    from .info import format_report, machine_report

    report = machine_report(_config(preset, config_file, sets))
    click.echo(json.dumps(report, indent=1) if as_json else "\n".join(format_report(report)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

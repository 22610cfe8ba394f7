"""SLURM array jobs: one script whose tasks each generate their range of shards, and a
dependent finalize job. Other schedulers run the same `generate --array-task auto` line."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..shards.atomic import write_atomic
from .timelimit import parse_duration, slurm_margin

SLURM_DIR = "slurm"  # inside OUT: the scripts, the frozen config and the task logs
# What sbatch takes (its man page), checked here so that a typo fails now, not at submission,
# and no value can carry a newline into the script.
_FORMATS = {
    "time": (r"(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2}|unlimited|infinite)",
             "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"),
    "mem": (r"\d+([KMGT]B?)?", "a number of megabytes, or with a unit: 8G, 500M"),
    "partition": (r"[\w.-]+(,[\w.-]+)*", "a name, or names separated by commas"),
    "account": (r"[\w.-]+", "a name"),
}


@dataclass(frozen=True)
class SlurmJob:
    """What the array job asks SLURM for."""

    tasks: int
    throttle: int | None = None  # at most this many tasks at once
    cpus_per_task: int = 4
    time: str | None = None  # e.g. "04:00:00"
    partition: str | None = None
    mem: str | None = None  # e.g. "8G"
    account: str | None = None

    def __post_init__(self) -> None:
        for name, (pattern, form) in _FORMATS.items():
            value = getattr(self, name)
            if value is not None and not re.fullmatch(pattern, value, re.IGNORECASE):
                raise ValueError(f"--{name} {value!r}: expected {form}")


def task_time_limit(job: SlurmJob) -> int | None:
    """Seconds a task passes to ``generate --time-limit``: the job's --time less a margin
    (``slurm_margin``), so that SLURM never kills a task mid-shard; None without a limit."""
    if not job.time or job.time.lower() in ("unlimited", "infinite"):
        return None
    text = job.time
    if re.fullmatch(r"\d+", text):  # SLURM reads a bare number as minutes
        text = f"{text}m"
    return int(slurm_margin(parse_duration(text)))


def check_folder(folder: Path) -> None:
    """ValueError now, before anything is written, for a folder the scripts cannot name."""
    _directive(folder)


def _header(name: str, job: SlurmJob, logs: Path, cpus: int) -> list[str]:
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --cpus-per-task={cpus}"]
    for flag, value in (("time", job.time), ("partition", job.partition), ("mem", job.mem),
                        ("account", job.account)):
        if value:
            lines.append(f"#SBATCH --{flag}={value}")
    return lines


def _directive(path: Path) -> str:
    """A path as an #SBATCH value: double-quoted, as sbatch reads quoted values, so spaces
    stay in it."""
    text = str(path)
    if '"' in text or "\n" in text:
        raise ValueError(f"{text!r}: a path with a double quote or newline cannot go into an "
                         "#SBATCH line; choose another --out")
    return f'"{text}"'


def write_scripts(out: Path | str, config_path: Path, job: SlurmJob, python: str | None = None,
                  folder: Path | None = None) -> tuple[Path, Path]:
    """Write OUT/slurm/generate.sbatch (the array) and OUT/slurm/finalize.sbatch (in
    ``folder`` instead, for an OUT that is a URL: the scripts and logs stay on a file system).

    Each array task runs ``fractalvid generate --array-task auto`` on the frozen config, so it
    derives its shard range from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT; a task that
    is rerun (or requeued) resumes, skipping finished shards.
    """
    out = str(out) if "://" in str(out) else Path(out).resolve()
    folder = Path(folder).resolve() if folder is not None else out / SLURM_DIR
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    exe = shlex.quote(python or sys.executable) + " -m fractalvid"
    cfg_arg = shlex.quote(str(Path(config_path).resolve()))
    target = shlex.quote(str(out))
    last = job.tasks - 1
    array = f"0-{last}" + (f"%{job.throttle}" if job.throttle else "")
    gen = _header("fractalvid-gen", job, logs, job.cpus_per_task) + [
        f"#SBATCH --array={array}",
        f"#SBATCH --output={_directive(logs / 'generate_%A_%a.out')}",
        "set -euo pipefail",
        f"exec {exe} generate --config {cfg_arg} --out {target} --array-task auto "
        f"--array-tasks {job.tasks} --workers \"${{SLURM_CPUS_PER_TASK:-{job.cpus_per_task}}}\" "
        + (f"--time-limit {limit}s " if (limit := task_time_limit(job)) else "")
        + "--no-finalize --quiet",
    ]
    fin = _header("fractalvid-finalize", job, logs, 1) + [
        "#SBATCH --kill-on-invalid-dep=yes",
        f"#SBATCH --output={_directive(logs / 'finalize_%j.out')}",
        "set -euo pipefail",
        f"{exe} finalize {target}",
        f"exec {exe} verify --quiet {target}",
    ]
    paths = folder / "generate.sbatch", folder / "finalize.sbatch"
    for path, lines in zip(paths, (gen, fin)):
        write_atomic(path, ("\n".join(lines) + "\n").encode())
    return paths


def submit(scripts: tuple[Path, Path], wait: bool = False) -> tuple[str, str]:
    """sbatch the array, then finalize with --dependency=afterok on it: (array id, finalize id).

    With ``wait``, block until finalize ends; a failed task (so no finalize) raises.
    """
    gen, fin = scripts
    array_id = _sbatch([str(gen)])
    args = [f"--dependency=afterok:{array_id}"] + (["--wait"] if wait else []) + [str(fin)]
    return array_id, _sbatch(args)


def _sbatch(args: list[str]) -> str:
    try:
        proc = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError("sbatch not found: run on a SLURM login node, or drop --submit and "
                           "submit the written scripts yourself") from None
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip().split(";")[0].splitlines()[-1]

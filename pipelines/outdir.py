"""The output folder: claiming it for a config, recognising a data set, and touching only the
files fractalvid wrote there.

A folder is a fractalvid data set when it records a config: ``config.json`` (the guard),
``dataset.json``, or the shards' own records (done markers and Parquet metadata). fractalvid
only ever writes, replaces or deletes names of its own plan in such a folder; the dataset card
and the preview are replaced only while their bytes are the ones it recorded writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fractalvid import __version__
from fractalvid.pipelines.config import (
    RENDERER,
    RENDERER_RELEASES,
    Config,
    ConfigError,
    build_config,
)
from fractalvid.shards.atomic import TMP_SUFFIX, abandoned, json_bytes, temp_path, write_atomic

CONFIG_FILE = "config.json"
DATASET_FILE = "dataset.json"
LOG_FILE = "generate.log"
DATASET_FORMAT = "fractalvid-dataset-v1"
# Names any plan makes: shards, their Parquet and done markers, and the data-set level files.
SHARD_NAME = re.compile(r"(train|val)-\d{6}\.(tar|parquet|stats\.json)")
TABLES = ("clips.parquet", "classes.parquet", "index.train.json", "index.val.json")
PLAIN = (CONFIG_FILE, DATASET_FILE, LOG_FILE, *TABLES)
# Files a user may well edit or bring: replaced only while they hold what fractalvid recorded.
GUARDED = ("README.md", "preview.png")


@dataclass(frozen=True)
class Recorded:
    """A config recorded in OUT: its fingerprint, the config (None where only the fingerprint
    was kept, as in done markers) and which file said so."""

    fingerprint: str
    config: dict | None
    source: str


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):  # absent, unreadable, truncated, not UTF-8
        return None
    return data if isinstance(data, dict) else None


def _from_record(data: dict | None, source: str) -> Recorded | None:
    """A config.json or dataset.json record, if it holds a fingerprint and a config."""
    if not data or not isinstance(data.get("fingerprint"), str):
        return None
    config = data.get("config")
    return Recorded(data["fingerprint"], config if isinstance(config, dict) else None, source)


def _from_shards(out: Path) -> Recorded | None:
    """The config the shards recorded: a done marker's fingerprint, a Parquet's config."""
    import pyarrow.parquet as pq

    for marker in sorted(out.glob("*-[0-9]*.stats.json")):
        found = _from_record(_read_json(marker), marker.name)
        if found is None:
            continue
        parquet = marker.with_name(marker.name.replace(".stats.json", ".parquet"))
        try:
            meta = pq.read_schema(parquet).metadata or {}
            config = json.loads(meta[b"fractalvid.config"])
        except Exception:  # any damage: the fingerprint alone still says whose
            config = None
        return Recorded(found.fingerprint, config, marker.name)
    return None


def recorded_configs(out: Path) -> list[Recorded]:
    """Every config record in ``out``, most authoritative first: config.json, dataset.json,
    the shards' records. Damaged or foreign files are passed over."""
    found = [_from_record(_read_json(out / CONFIG_FILE), CONFIG_FILE),
             _from_record(_read_json(out / DATASET_FILE), DATASET_FILE),
             _from_shards(out)]
    return [r for r in found if r is not None]


def _config_in(r: Recorded) -> Config | None:
    if r.config is None:
        return None
    try:
        return build_config(None, base=r.config)
    except ConfigError:
        return None


def older_renderer(theirs: str, cfg: Config) -> int | None:
    """The renderer generation before this one under which ``cfg`` has fingerprint
    ``theirs`` (its data set was made by an older fractalvid), or None."""
    return next((g for g in range(1, RENDERER) if cfg.fingerprint(g) == theirs), None)


def made_by_older(where: str | Path, generation: int) -> str:
    """The line saying that ``where`` holds frames of an older renderer generation."""
    return (f"{where} was made by fractalvid {RENDERER_RELEASES[generation]} or older, whose "
            "frames this version does not make (its chaos game is float32 since 0.3)")


def another_data_set(where: str | Path, theirs: str | None, cfg: Config,
                     files: str = "files") -> str:
    """Why a run of ``cfg`` refuses ``where``, which holds the data set of fingerprint
    ``theirs``: another config's, or this config's made by an older renderer."""
    older = older_renderer(theirs, cfg) if theirs else None
    if older is not None:
        return (f"{made_by_older(where, older)}; finish it with that version, or choose another "
                f"--out or pass --overwrite to make it anew (which deletes only fractalvid's "
                f"{files} there)")
    return (f"{where} holds a data set made with another config (fingerprint {theirs}, this one "
            f"{cfg.fingerprint()}); choose another --out or pass --overwrite (which deletes only "
            f"fractalvid's {files} there)")


def config_of(out: Path) -> Config:
    """The config a data set folder was made with, from the first record that rebuilds to its
    own fingerprint (so a damaged dataset.json or config.json is repaired from the others).
    Raises ConfigError saying what was found."""
    return config_from(recorded_configs(out), out, f"{out}: no {CONFIG_FILE}, {DATASET_FILE} "
                       "or shard records; is it a fractalvid data set?")


def config_from(records: list[Recorded], where: str | Path, missing: str) -> Config:
    """The config of the first of ``records`` (found at ``where``) that rebuilds to its own
    fingerprint, or ConfigError: made by an older renderer, damaged, or (no records)
    ``missing``."""
    older = None
    for r in records:
        cfg = _config_in(r)
        if cfg is None:
            continue
        if cfg.fingerprint() == r.fingerprint:
            return cfg
        older = older or older_renderer(r.fingerprint, cfg)
    if older:
        raise ConfigError(f"{made_by_older(where, older)}; use that version to finalize, "
                          "verify or extend it")
    if records:
        raise ConfigError(f"{where}: the config records ({', '.join(r.source for r in records)})"
                          " are damaged or from another fractalvid version; regenerate with "
                          f"--config of the original settings")
    raise ConfigError(missing)


def _foreign_entries(out: Path) -> list[str]:
    """Entries of ``out`` other than fractalvid's own temporaries."""
    return sorted(p.name for p in out.iterdir()
                  if not (p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)))


def _config_record(cfg: Config) -> bytes:
    record = {"fingerprint": cfg.fingerprint(), "fractalvid_version": __version__,
              "config": cfg.to_dict()}
    return json_bytes(record)


def _create_exclusive(final: Path, data: bytes) -> bool:
    """Write ``final`` whole, only if it does not exist: True when this call made it. A hard
    link of a complete temporary is atomic, so two runs racing for a new OUT cannot both win."""
    tmp = temp_path(final)
    try:
        tmp.write_bytes(data)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def claim_output(cfg: Config, out: Path, overwrite: bool = False) -> None:
    """Make ``out`` hold this config's data set, atomically against a concurrent claim.

    - a new or empty folder: ``config.json`` is created (create-exclusive);
    - a data set of this config (by any of its records): carries on; a damaged config.json is
      rewritten from the others;
    - a data set of another config: ConfigError, or with ``overwrite`` its fractalvid files
      are deleted (``owned_files``) and the folder is claimed anew;
    - a non-empty folder that is no data set: ConfigError, whatever ``overwrite`` says.
    """
    out.mkdir(parents=True, exist_ok=True)
    mine = cfg.fingerprint()
    for _ in range(3):  # a lost race for config.json is settled by reading the winner's
        records = recorded_configs(out)
        if not records:
            foreign = [n for n in _foreign_entries(out) if n != CONFIG_FILE]
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise ConfigError(f"{out} is not empty ({shown}) and is no fractalvid data set; "
                                  "choose a new or empty folder for --out")
            if (out / CONFIG_FILE).exists():
                if recorded_configs(out):
                    continue  # another run has just claimed OUT: read its config
                if not overwrite:
                    raise ConfigError(f"{out}/{CONFIG_FILE} is damaged and nothing else there "
                                      "records a config; pass --overwrite to replace "
                                      "fractalvid's files there (no other file is touched)")
                write_atomic(out / CONFIG_FILE, _config_record(cfg))  # damaged: replaced
                return
            if _create_exclusive(out / CONFIG_FILE, _config_record(cfg)):
                return
            continue
        theirs = records[0].fingerprint
        if theirs == mine:
            if records[0].source != CONFIG_FILE:  # repair or restore the guard
                write_atomic(out / CONFIG_FILE, _config_record(cfg))
            return
        if not overwrite:
            raise ConfigError(another_data_set(out, theirs, cfg))
        for path in owned_files(out):
            path.unlink(missing_ok=True)
        write_atomic(out / CONFIG_FILE, _config_record(cfg))
        return
    raise ConfigError(f"{out}: another run keeps changing {CONFIG_FILE}; try again")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def written_record(out: Path) -> dict[str, str]:
    """{name: sha256} of the guarded files fractalvid last wrote (dataset.json's ``written``)."""
    try:
        return recorded_writes((out / DATASET_FILE).read_bytes())
    except OSError:
        return {}


def recorded_writes(dataset_json: bytes | None) -> dict[str, str]:
    """dataset.json's ``written`` record ({name: sha256}), {} when absent or damaged."""
    try:
        data = json.loads(dataset_json) if dataset_json else {}
    except ValueError:
        data = {}
    written = data.get("written") if isinstance(data, dict) else None
    return {k: v for k, v in written.items() if isinstance(v, str)} \
        if isinstance(written, dict) else {}


def is_ours(name: str, current: bytes | None, written: dict[str, str]) -> bool:
    """True when the GUARDED file ``name`` is absent (``current`` None) or holds what
    fractalvid recorded writing (``written``, dataset.json's record)."""
    return current is None or written.get(name) == sha256_bytes(current)


def ours_to_replace(path: Path, written: dict[str, str]) -> bool:
    """``is_ours`` for a file on disk; an unreadable one is not."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    except OSError:
        return False
    return is_ours(path.name, data, written)


def owned_files(out: Path) -> list[Path]:
    """The files of ``out`` fractalvid wrote and may delete: names of its plan, the guarded
    files still as it wrote them, and abandoned temporaries of those names."""
    written = written_record(out)
    owned = []
    for p in out.iterdir():
        if not p.is_file() or p.is_symlink():
            continue
        name = p.name
        if name.startswith(".") and name.endswith(TMP_SUFFIX):
            base = name[1:].rpartition("@")[0]
            if (SHARD_NAME.fullmatch(base) or base in PLAIN or base in GUARDED) and abandoned(p):
                owned.append(p)
        elif SHARD_NAME.fullmatch(name) or name in PLAIN:
            owned.append(p)
        elif name in GUARDED and ours_to_replace(p, written):
            owned.append(p)
    return sorted(owned)

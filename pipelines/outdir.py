"""The output place (a folder or an object store, through ``shards.store``): claiming it for a
config, recognising a data set, and touching only the files fractalvid wrote there. Each rule
is written once, over the store interface, so it holds alike on a disk and in a bucket.

A place is a fractalvid data set when it records a config: ``config.json`` (the guard),
``dataset.json``, or the shards' own records (done markers and Parquet metadata). fractalvid
only ever writes, replaces or deletes names of its own plan in such a place; the dataset card
and the preview are replaced only while their bytes are the ones it recorded writing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..shards.atomic import TMP_SUFFIX, json_bytes
from ..shards.store import SHARD_STEM, Store, open_store
from .config import (
    RENDERER,
    RENDERER_RELEASES,
    Config,
    ConfigError,
    build_config,
)
from .version import __version__

CONFIG_FILE = "config.json"
DATASET_FILE = "dataset.json"
LOG_FILE = "generate.log"
DATASET_FORMAT = "fractalvid-dataset-v1"
# Names any plan makes: shards, their Parquet and done markers, and the data-set level files.
SHARD_NAME = re.compile(SHARD_STEM.pattern + r"\.(tar|parquet|stats\.json)")
MARKER_NAME = re.compile(SHARD_STEM.pattern + r"\.stats\.json")
TABLES = ("clips.parquet", "classes.parquet", "index.train.json", "index.val.json")
PLAIN = (CONFIG_FILE, DATASET_FILE, LOG_FILE, *TABLES)
# Files a user may well edit or bring: replaced only while they hold what fractalvid recorded.
GUARDED = ("README.md", "preview.png", "preview.gif")


@dataclass(frozen=True)
class Recorded:
    """A config recorded in OUT: its fingerprint, the config (None where only the fingerprint
    was kept, as in done markers) and which file said so."""

    fingerprint: str
    config: dict | None
    source: str


def _read_json(store: Store, name: str) -> dict | None:
    try:
        data = json.loads(store.read(name) or b"")
    except ValueError:  # absent, truncated, not UTF-8
        return None
    return data if isinstance(data, dict) else None


def _from_record(data: dict | None, source: str) -> Recorded | None:
    """A config.json or dataset.json record, if it holds a fingerprint and a config."""
    if not data or not isinstance(data.get("fingerprint"), str):
        return None
    config = data.get("config")
    return Recorded(data["fingerprint"], config if isinstance(config, dict) else None, source)


def _from_shards(store: Store) -> Recorded | None:
    """The config the shards recorded: a done marker's fingerprint, a Parquet's config."""
    from ..shards.metadata import read_parquet_schema

    for marker in (n for n in store.names() if MARKER_NAME.fullmatch(n)):
        found = _from_record(_read_json(store, marker), marker)
        if found is None:
            continue
        try:
            raw = store.read(marker.replace(".stats.json", ".parquet"))
            meta = read_parquet_schema(raw).metadata or {}
            config = json.loads(meta[b"fractalvid.config"])
        except Exception:  # any damage: the fingerprint alone still says whose
            config = None
        return Recorded(found.fingerprint, config, marker)
    return None


def recorded_configs(out: Store | str | Path) -> list[Recorded]:
    """Every config record in ``out``, most authoritative first: config.json, dataset.json,
    the shards' records. Damaged or foreign files are passed over."""
    store = open_store(out)
    found = [_from_record(_read_json(store, CONFIG_FILE), CONFIG_FILE),
             _from_record(_read_json(store, DATASET_FILE), DATASET_FILE),
             _from_shards(store)]
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


def made_by_older(where: object, generation: int) -> str:
    """The line saying that ``where`` holds frames of an older renderer generation."""
    return (f"{where} was made by fractalvid {RENDERER_RELEASES[generation]} or older, whose "
            "frames this version does not make (its chaos game is float32 since 0.3)")


def another_data_set(where: object, theirs: str | None, cfg: Config) -> str:
    """Why a run of ``cfg`` refuses ``where``, which holds the data set of fingerprint
    ``theirs``: another config's, or this config's made by an older renderer."""
    older = older_renderer(theirs, cfg) if theirs else None
    if older is not None:
        return (f"{made_by_older(where, older)}; finish it with that version, or choose another "
                "--out or pass --overwrite to make it anew (which deletes only fractalvid's "
                "files there)")
    resume = "" if "://" in str(where) else f"--config {where}/config.json goes on with it, or "
    return (f"{where} holds a data set made with another config (fingerprint {theirs}, this one "
            f"{cfg.fingerprint()}); {resume}choose another --out or pass --overwrite (which "
            "deletes only fractalvid's files there)")


def config_of(out: Store | str | Path) -> Config:
    """The config a data set was made with, from the first record that rebuilds to its own
    fingerprint (so a damaged dataset.json or config.json is repaired from the others).
    Raises ConfigError saying what was found."""
    store = open_store(out)
    return config_from(recorded_configs(store), store, f"{store}: no {CONFIG_FILE}, "
                       f"{DATASET_FILE} or shard records; is it a fractalvid data set?")


def config_from(records: list[Recorded], where: object, missing: str) -> Config:
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


def _foreign_entries(store: Store) -> list[str]:
    """Entries of the store other than fractalvid's own temporaries."""
    return [n for n in store.names() if not (n.startswith(".") and n.endswith(TMP_SUFFIX))]


def _config_record(cfg: Config) -> bytes:
    record = {"fingerprint": cfg.fingerprint(), "fractalvid_version": __version__,
              "config": cfg.to_dict()}
    return json_bytes(record)


def claim_output(cfg: Config, out: Store | str | Path, overwrite: bool = False) -> None:
    """Make ``out`` (a folder or a store) hold this config's data set, atomically against a
    concurrent claim.

    - a new or empty place: ``config.json`` is created (create-exclusive);
    - a data set of this config (by any of its records): carries on; a damaged config.json is
      rewritten from the others;
    - a data set of another config: ConfigError, or with ``overwrite`` its fractalvid files
      are deleted (``owned_files``) and the place is claimed anew;
    - a place holding anything else, and no data set: ConfigError, whatever ``overwrite``
      says.
    """
    store = open_store(out)
    store.make()
    mine = cfg.fingerprint()
    for _ in range(3):  # a lost race for config.json is settled by reading the winner's
        records = recorded_configs(store)
        if not records:
            foreign = [n for n in _foreign_entries(store) if n != CONFIG_FILE]
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise ConfigError(f"{store} is not empty ({shown}) and is no fractalvid data "
                                  "set; choose a new or empty place for --out")
            if store.stat(CONFIG_FILE) is not None:
                if recorded_configs(store):
                    continue  # another run has just claimed OUT: read its config
                if not overwrite:
                    raise ConfigError(f"{store}/{CONFIG_FILE} is damaged and nothing else there "
                                      "records a config; pass --overwrite to replace "
                                      "fractalvid's files there (no other file is touched)")
                store.write(CONFIG_FILE, _config_record(cfg))  # damaged: replaced
                return
            if store.create(CONFIG_FILE, _config_record(cfg)):
                return
            continue
        theirs = records[0].fingerprint
        if theirs == mine:
            if records[0].source != CONFIG_FILE:  # repair or restore the guard
                store.write(CONFIG_FILE, _config_record(cfg))
            return
        if not overwrite:
            raise ConfigError(another_data_set(store, theirs, cfg))
        for name in owned_files(store):
            store.delete(name)
        store.write(CONFIG_FILE, _config_record(cfg))
        return
    raise ConfigError(f"{store}: another run keeps changing {CONFIG_FILE}; try again")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def written_record(out: Store | str | Path) -> dict[str, str]:
    """{name: sha256} of the guarded files fractalvid last wrote (dataset.json's ``written``)."""
    return recorded_writes(open_store(out).read(DATASET_FILE))


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


def ours_to_replace(store: Store, name: str, written: dict[str, str]) -> bool:
    """``is_ours`` for a file in ``store``; an unreadable one is not."""
    try:
        data = store.read(name)
    except OSError:
        return False
    return is_ours(name, data, written)


def owned_files(out: Store | str | Path) -> list[str]:
    """The names in ``out`` fractalvid wrote and may delete: names of its plan, the guarded
    files still as it wrote them, and abandoned temporaries of those names."""
    store = open_store(out)
    written = written_record(store)
    owned = []
    for name in store.names():
        if name.startswith(".") and name.endswith(TMP_SUFFIX):
            base = name[1:].rpartition("@")[0]
            if (SHARD_NAME.fullmatch(base) or base in PLAIN or base in GUARDED) and \
                    store.abandoned(name):
                owned.append(name)
        elif store.stat(name) is None:  # a folder or a link: never ours
            continue
        elif SHARD_NAME.fullmatch(name) or name in PLAIN:
            owned.append(name)
        elif name in GUARDED and ours_to_replace(store, name, written):
            owned.append(name)
    return owned

"""The shards a reader's source names: a data set's folder or URL (its wids index, else its
tars), a wids index file, a brace pattern, or a list."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from .store import SHARD_STEM, dataset_store, read_bytes


def shard_entries(source: str | Path | Sequence[str | Path], split: str = "train"
                  ) -> list[tuple[str, int | None]]:
    """(url, sample count or None where no index says) of each shard of ``source``; the
    forms are those of ``shard_urls``."""
    if not isinstance(source, (str, Path)):
        return [(str(s), None) for s in source]
    text = str(source)
    store = dataset_store(text)
    if store is not None:  # a data set's folder or URL
        index = f"index.{split}.json"
        if store.stat(index) is not None:
            return shard_entries(str(store.join(index)))
        urls = [str(store.join(n)) for n in store.names()
                if n.startswith(f"{split}-") and SHARD_STEM.fullmatch(n[:-4]) and
                n.endswith(".tar")]
        if not urls:
            raise FileNotFoundError(f"{store}: no index.{split}.json and no {split}-*.tar shards")
        return [(u, None) for u in urls]
    if text.endswith(".json"):
        index = json.loads(read_bytes(text))
        base = os.path.dirname(text)
        return [(u["url"] if "://" in u["url"] else os.path.join(base, u["url"]),
                 u.get("nsamples")) for u in index["shardlist"]]
    if "{" in text:
        from braceexpand import braceexpand  # a dependency of webdataset

        return [(u, None) for u in braceexpand(text)]
    return [(text, None)]


def shard_urls(source: str | Path | Sequence[str | Path], split: str = "train") -> list[str]:
    """The shard paths of ``source``:

    - a data-set folder: its ``index.{split}.json`` (or, before finalize, ``{split}-*.tar``);
    - a wids index JSON file: its shardlist, relative to the file's folder;
    - a brace pattern such as ``data/tiny/train-{000000..000004}.tar``;
    - a list of paths.
    """
    return [url for url, _ in shard_entries(source, split)]

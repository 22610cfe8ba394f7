"""`fractalvid stats DIR`: the quality of a data set, from its Parquet metadata."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..gen.compose import OP_NAMES
from ..gen.generators import DEFAULT, GENERATORS
from ..gen.quality import is_degenerate
from ..shards.metadata import read_parquet
from ..shards.store import SHARD_STEM, Store, open_store

PERCENTILES = (1, 5, 50, 95, 99)
SHARD_PARQUET = re.compile(SHARD_STEM.pattern + r"\.parquet")


def load_clips(out: Store | str | Path) -> pa.Table:
    """clips.parquet, or (before finalize) the finished shards' Parquet files, of the data set
    in ``out`` (a folder or a store)."""
    store = open_store(out)
    raw = store.read("clips.parquet")
    if raw is not None:
        return read_parquet(raw)
    names = set(store.names())
    parts = [n for n in sorted(names) if SHARD_PARQUET.fullmatch(n)
             and n.replace(".parquet", ".stats.json") in names]
    if not parts:
        raise FileNotFoundError(f"{store}: no clips.parquet and no finished shards")
    return pa.concat_tables([read_parquet(store.read(n)) for n in parts],
                            promote_options="default")


def generator_name(clips: pa.Table) -> str:
    """The generator of a clips table, from the config in its schema metadata."""
    raw = (clips.schema.metadata or {}).get(b"fractalvid.config")
    try:
        name = json.loads(raw).get("generator", DEFAULT) if raw else DEFAULT
    except (ValueError, AttributeError):
        name = DEFAULT
    return name if name in GENERATORS else DEFAULT


def dataset_stats(clips: pa.Table, generator: str | None = None) -> dict:
    """Figures of a clips table: counts, quality percentiles, degenerate rate, redraws,
    clips per value of the generator's tally column (fractal: variation) and per compose
    operation; escaped steps where the generator records them. ``generator``: by default, the
    one the table's config metadata names."""
    n = clips.num_rows
    generator = generator or generator_name(clips)
    spec = GENERATORS[generator]
    tally = spec.tally
    tally = tally if tally in clips.column_names else None
    coverage = clips.column("coverage").to_numpy(zero_copy_only=False)
    motion = clips.column("motion").to_numpy(zero_copy_only=False)
    escaped = clips.column("escaped").to_numpy(zero_copy_only=False) \
        if "escaped" in clips.column_names else None
    screened = spec.screened
    still = clips.column("frames").to_numpy(zero_copy_only=False) == 1
    degenerate = is_degenerate(coverage, motion, still)
    ops = Counter(op for row in clips.column("ops").to_pylist() for op in row or [])
    redrawn = int((clips.column("class_attempt").to_numpy(zero_copy_only=False) > 0).sum())
    fallback = int((clips.column("instance_attempt").to_numpy(zero_copy_only=False) < 0).sum())
    defects = Counter(d for d in clips.column("defect").to_pylist() if d)

    def pct(v: np.ndarray) -> list[float]:
        return [round(float(x), 4) for x in np.percentile(v, PERCENTILES)] if n else []

    return {
        "generator": generator,
        "clips": n,
        "stills": bool(n and still.all()),  # a media=image set: no motion to report
        "splits": dict(Counter(clips.column("split").to_pylist())),
        "coverage": pct(coverage),
        "motion": pct(motion),
        "escaped": pct(escaped) if escaped is not None else None,
        "escaped_over_1pct": int((escaped > 0.01).sum()) if escaped is not None else None,
        "degenerate": int(degenerate.sum()) if screened else None,
        "degenerate_rate": (float(degenerate.mean()) if n else 0.0) if screened else None,
        "clips_of_redrawn_classes": redrawn,
        "instances_on_class_parameters": fallback,
        "kept_defects": dict(defects),
        "tally": tally,
        "tallied": dict(sorted(Counter(clips.column(tally).to_pylist()).items())) if tally
        else {},
        "ops": {k: ops[k] for k in OP_NAMES if ops[k]},
    }


def format_stats(s: dict) -> str:
    """The figures of ``dataset_stats`` as a plain-text table."""
    n = max(s["clips"], 1)
    still = s.get("stills", False)
    unit = "images" if still else "clips"
    head = "percentile".ljust(22) + "".join(f"p{p}".rjust(9) for p in PERCENTILES)
    lines = [
        f"generator: {s['generator']}",
        f"{unit}: {s['clips']}  " + "  ".join(f"{k}: {v}" for k, v in s["splits"].items()),
        "",
        head,
        "coverage".ljust(22) + "".join(f"{v:9.4f}" for v in s["coverage"]),
        *([] if still else ["motion".ljust(22) + "".join(f"{v:9.4f}" for v in s["motion"])]),
    ]
    if s["escaped"] is not None:
        lines.append("escaped steps".ljust(22) + "".join(f"{v:9.4f}" for v in s["escaped"]))
    lines.append("")
    if s["degenerate"] is not None:
        lines.append(f"degenerate {unit}: {s['degenerate']} ({s['degenerate_rate']:.2%}); "
                     "coverage < 2% or > 90%" + ("" if still else ", or motion < 0.002"))
    if s["escaped_over_1pct"] is not None:
        lines.append(f"clips escaping > 1% of steps: {s['escaped_over_1pct']}")
    lines += [
        f"clips of redrawn classes: {s['clips_of_redrawn_classes']}; instances on their "
        f"class's own parameters: {s['instances_on_class_parameters']}",
    ]
    if s["kept_defects"]:
        lines.append("kept although degenerate (retries exhausted): "
                     + ", ".join(f"{k} {v}" for k, v in s["kept_defects"].items()))
    if s["tally"]:
        lines += ["", s["tally"].ljust(22) + "clips".rjust(9) + "share".rjust(9)]
        lines += [str(k).ljust(22) + f"{v:9d}{v / n:9.1%}" for k, v in s["tallied"].items()]
    if s["ops"]:
        lines += ["", "compose operation".ljust(22) + "clips".rjust(9) + "share".rjust(9)]
        lines += [k.ljust(22) + f"{v:9d}{v / n:9.1%}" for k, v in s["ops"].items()]
    return "\n".join(lines)

"""`fractalvid stats DIR`: the quality of a data set, from its Parquet metadata."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fractalvid.gen.compose import OP_NAMES
from fractalvid.gen.quality import is_degenerate
from fractalvid.shards.location import is_url, join, open_read

PERCENTILES = (1, 5, 50, 95, 99)


def load_clips(out: str | Path) -> pa.Table:
    """clips.parquet, or (before finalize) the finished shards' Parquet files (a local set)."""
    if is_url(out):
        with open_read(join(out, "clips.parquet")) as fh:
            return pq.read_table(fh)
    out = Path(out)
    if (out / "clips.parquet").is_file():
        return pq.read_table(out / "clips.parquet")
    parts = sorted(p for p in out.glob("*-[0-9][0-9][0-9][0-9][0-9][0-9].parquet")
                   if (out / f"{p.stem}.stats.json").is_file())
    if not parts:
        raise FileNotFoundError(f"{out}: no clips.parquet and no finished shards")
    return pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default")


def dataset_stats(clips: pa.Table) -> dict:
    """Figures of a clips table: counts, quality percentiles, degenerate rate, redraws,
    clips per variation and per compose operation."""
    n = clips.num_rows
    coverage = clips.column("coverage").to_numpy(zero_copy_only=False)
    motion = clips.column("motion").to_numpy(zero_copy_only=False)
    escaped = clips.column("escaped").to_numpy(zero_copy_only=False)
    degenerate = is_degenerate(coverage, motion)
    ops = Counter(op for row in clips.column("ops").to_pylist() for op in row or [])
    redrawn = int((clips.column("class_attempt").to_numpy(zero_copy_only=False) > 0).sum())
    fallback = int((clips.column("instance_attempt").to_numpy(zero_copy_only=False) < 0).sum())
    defects = Counter(d for d in clips.column("defect").to_pylist() if d)

    def pct(v: np.ndarray) -> list[float]:
        return [round(float(x), 4) for x in np.percentile(v, PERCENTILES)] if n else []

    return {
        "clips": n,
        "splits": dict(Counter(clips.column("split").to_pylist())),
        "coverage": pct(coverage),
        "motion": pct(motion),
        "escaped": pct(escaped),
        "escaped_over_1pct": int((escaped > 0.01).sum()),
        "degenerate": int(degenerate.sum()),
        "degenerate_rate": float(degenerate.mean()) if n else 0.0,
        "clips_of_redrawn_classes": redrawn,
        "instances_on_class_parameters": fallback,
        "kept_defects": dict(defects),
        "variations": dict(sorted(Counter(clips.column("variation").to_pylist()).items())),
        "ops": {k: ops[k] for k in OP_NAMES if ops[k]},
    }


def format_stats(s: dict) -> str:
    """The figures of ``dataset_stats`` as a plain-text table."""
    n = max(s["clips"], 1)
    head = "percentile".ljust(22) + "".join(f"p{p}".rjust(9) for p in PERCENTILES)
    lines = [
        f"clips: {s['clips']}  " + "  ".join(f"{k}: {v}" for k, v in s["splits"].items()),
        "",
        head,
        "coverage".ljust(22) + "".join(f"{v:9.4f}" for v in s["coverage"]),
        "motion".ljust(22) + "".join(f"{v:9.4f}" for v in s["motion"]),
        "escaped steps".ljust(22) + "".join(f"{v:9.4f}" for v in s["escaped"]),
        "",
        f"degenerate clips: {s['degenerate']} ({s['degenerate_rate']:.2%}); coverage < 2% or "
        "> 90%, or motion < 0.002",
        f"clips escaping > 1% of steps: {s['escaped_over_1pct']}",
        f"clips of redrawn classes: {s['clips_of_redrawn_classes']}; instances on their "
        f"class's own parameters: {s['instances_on_class_parameters']}",
    ]
    if s["kept_defects"]:
        lines.append("kept although degenerate (retries exhausted): "
                     + ", ".join(f"{k} {v}" for k, v in s["kept_defects"].items()))
    lines += ["", "variation".ljust(22) + "clips".rjust(9) + "share".rjust(9)]
    lines += [k.ljust(22) + f"{v:9d}{v / n:9.1%}" for k, v in s["variations"].items()]
    if s["ops"]:
        lines += ["", "compose operation".ljust(22) + "clips".rjust(9) + "share".rjust(9)]
        lines += [k.ljust(22) + f"{v:9d}{v / n:9.1%}" for k, v in s["ops"].items()]
    return "\n".join(lines)

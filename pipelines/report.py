"""``fractalvid plan``: what a config would make, with the estimates of disk, time and
memory for this machine (JSON-ready, and as the lines the command prints)."""

from __future__ import annotations

from .config import Config
from .plan import SPLITS, disk_estimate, estimates, plan_shards, task_range
from .sizing import cpu_count, cpu_worker_bytes


def plan_report(cfg: Config, tasks: int = 1) -> dict:
    """What ``cfg`` would make, split over ``tasks`` array tasks: counts, shards per task,
    and the disk, time and memory estimates (``fractalvid plan``; JSON-ready)."""
    shards = plan_shards(cfg)
    clips = cfg.train_clips + cfg.val_clips
    est_bytes, core_s = estimates(cfg)
    per_clip = core_s / max(clips, 1)
    ranges = [task_range(t, tasks, len(shards)) for t in range(tasks)]
    return {
        "fingerprint": cfg.fingerprint(),
        "generator": cfg.generator,
        "classes": cfg.classes if cfg.labels else None,
        "clips": {"train": cfg.train_clips, "val": cfg.val_clips},
        "frames": int(clips * sum(cfg.frame_range) / 2),
        "media": cfg.media,
        "resolution": cfg.resolution,
        "shard_size": cfg.shard_size,
        "shard_clips": sorted({s.count for s in shards}),
        "cores": cpu_count(),
        "shards": {split: sum(s.split == split for s in shards) for split in SPLITS},
        "tasks": [{"task": t, "shards": f"{r.start}:{r.stop}",
                   "clips": sum(shards[i].count for i in r),
                   "core_hours": round(sum(shards[i].count for i in r) * per_clip / 3600, 3)}
                  for t, r in enumerate(ranges)],
        "codec": cfg.member_codec,
        "estimated_bytes": int(est_bytes),
        "estimated_bytes_by_codec": {c: int(disk_estimate(cfg, c)) for c in
                                     (("png", "jpeg", "raw") if cfg.still else ("h264", "raw"))},
        "estimated_core_hours": round(core_s / 3600, 3),
        "estimated_worker_bytes": cpu_worker_bytes(cfg),
        "points_per_frame": cfg.render_settings.points_per_frame
        if cfg.generator == "fractal" else None,
        "config": cfg.to_dict(),
    }


def format_report(r: dict, show_tasks: int = 20) -> list[str]:
    """``plan_report`` as the lines ``fractalvid plan`` prints."""
    still = r.get("media") == "image"
    other = "raw" if r["codec"] != "raw" else "png" if still else "h264"
    codec_key, unit = ("image_codec", "images") if still else ("codec", "clips")
    hours, cores = r["estimated_core_hours"], r["cores"]
    sizes = r["shard_clips"]
    each = f"{sizes[0]} {unit} each" if len(sizes) == 1 else \
        f"{sizes[0]}-{sizes[-1]} {unit} each"
    lines = [
        f"fingerprint  {r['fingerprint']}",
        f"generator    {r['generator']}",
        f"classes      {r['classes'] or 'unlabeled (fresh parameters per clip)'}",
        (f"images       train {r['clips']['train']}, val {r['clips']['val']} (still, "
         f"{r['resolution']}x{r['resolution']})" if still else
         f"clips        train {r['clips']['train']}, val {r['clips']['val']} ({r['frames']} "
         f"frames at {r['resolution']}x{r['resolution']})"),
        f"shards       train {r['shards']['train']}, val {r['shards']['val']} ({each})",
        *([f"points       {r['points_per_frame']:,} per frame"] if r["points_per_frame"] else []),
        f"disk         about {_size(r['estimated_bytes'])} as {r['codec']} (about "
        f"{_size(r['estimated_bytes_by_codec'][other])} with {codec_key}={other})",
        f"memory       about {r['estimated_worker_bytes'] / 1e9:.2f} GB a CPU worker (peak RSS)",
        f"time         about {_duration(hours)} of one core on the CPU backend "
        f"({_duration(hours / cores)} on this machine's {cores} "
        f"{'core' if cores == 1 else 'cores'})",
    ]
    lines += [f"task {t['task']:<6} shards {t['shards']:<12} {t['clips']} {unit}, about "
              f"{_duration(t['core_hours'])} of one core" for t in r["tasks"][:show_tasks]]
    if len(r["tasks"]) > show_tasks:
        lines.append(f"... {len(r['tasks']) - show_tasks} more tasks")
    return lines


def _size(n: float) -> str:
    """Bytes in words: '840 kB', '12.3 MB', '4.56 GB'."""
    if n < 1e6:
        return f"{max(1, round(n / 1e3))} kB"
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _duration(hours: float) -> str:
    """Hours in words that stay readable when small: '40 s', '12 min', '3.4 h'."""
    seconds = hours * 3600
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{hours:.1f} h"

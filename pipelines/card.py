"""The dataset card (OUT/README.md): how the data set was made, what is in it, how to load it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..shards.codec import MEMBER
from .config import FIELD_HELP, Config
from .stats import dataset_stats


def _pct(values: np.ndarray) -> str:
    if values.size == 0:
        return "n/a"
    p = np.percentile(values, [5, 50, 95])
    return f"{p[0]:.3f} / {p[1]:.3f} / {p[2]:.3f}"


def _degenerate(cfg: Config) -> str:
    return "images (coverage under 2% or over 90%)" if cfg.still else \
        "clips (coverage under 2% or over 90%, or motion under 0.002)"


def _codec(cfg: Config) -> str:
    if cfg.still:
        return "raw uint8 (one frame, .npy in zstd)" if cfg.image_codec == "raw" else \
            cfg.image_codec.upper() + ("" if cfg.image_codec == "png" else
                                       f" quality {cfg.image_quality}")
    if cfg.codec == "raw":
        return "raw uint8 frames (a .npy file in a zstd frame, lossless)"
    return f"{cfg.codec.upper()} CRF {cfg.crf}"


PAPER = "2411.17584"  # arXiv: Pre-training for Action Recognition with Automatically
# Generated Fractal Datasets
CITATION = """@article{fractal_video_2024,
  title   = {Pre-training for Action Recognition with Automatically Generated Fractal Datasets},
  author  = {Svyezhentsev, Davyd and Retsinas, George and Maragos, Petros},
  journal = {arXiv preprint arXiv:2411.17584},
  year    = {2024}
}"""


def dataset_card(cfg: Config, dataset: dict, clips: pa.Table) -> str:
    """OUT/README.md: the Hugging Face front matter, then the sections below, in order."""
    sections = (_front_matter(cfg, dataset), _contents(cfg, dataset, clips), _files(cfg),
                _load(cfg, dataset), _config(cfg), _citation())
    return "\n".join(line for section in sections for line in section)


def _front_matter(cfg: Config, dataset: dict) -> list[str]:
    """The YAML block the Hugging Face Hub reads: one config whose splits are the tar shards
    (so ``load_dataset`` on the folder, or on the pushed repository, reads the clips, not the
    done markers), the task, tags, the paper."""
    splits = [("train", "train"), ("validation", "val")]
    files = [line for split, prefix in splits if dataset["splits"][prefix]["clips"]
             for line in (f"  - split: {split}", f'    path: "{prefix}-*.tar"')]
    task = "video-classification" if cfg.labels else "other"
    clips = sum(s["clips"] for s in dataset["splits"].values())
    return ["---", "configs:", "- config_name: default", "  data_files:", *files,
            "license: mit", "task_categories:", f"- {task}", "tags:", "- synthetic",
            f"- {cfg.generator}", "- webdataset", "- video", "- pretraining",
            f"- arxiv:{PAPER}", f"pretty_name: {cfg.generator_spec.title}",
            "size_categories:", f"- {_size_category(clips)}", "---", ""]


def _size_category(n: int) -> str:
    for top, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                      (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < top:
            return name
    return "10M<n<100M"


def _citation() -> list[str]:
    return ["## Citation", "",
            f"The method is that of the paper (arXiv:{PAPER}, https://arxiv.org/abs/{PAPER}):",
            "", "```bibtex", CITATION, "```", ""]


def _contents(cfg: Config, dataset: dict, clips: pa.Table) -> list[str]:
    figures = dataset_stats(clips, cfg.generator)
    n = max(clips.num_rows, 1)
    gen = cfg.generator_spec
    tally = [f"| {figures['tally']} | clips |", "|---|---|",
             *(f"| {k} | {v} |" for k, v in figures["tallied"].items()), ""] \
        if figures["tally"] else []
    return [
        f"# {gen.title}",
        "",
        f"Made by fractalvid {dataset['fractalvid_version']} (config fingerprint "
        f"`{dataset['fingerprint']}`, seed {cfg.seed}). {gen.about}; see the fractalvid "
        "README for the method.",
        "",
        "## Contents",
        "",
        "| split | clips | shards |",
        "|---|---|---|",
        *(f"| {k} | {v['clips']} | {v['shards']} |" for k, v in dataset["splits"].items()),
        "",
        f"- {'labeled: ' + str(cfg.classes) + ' classes' if cfg.labels else 'unlabeled'}; "
        f"{cfg.resolution}x{cfg.resolution} px, "
        + ("still images" if cfg.still else
           f"{cfg.frames_min}-{cfg.frames_max} frames at {cfg.fps} fps")
        + f", {_codec(cfg)}, "
        f"{'RGB' if cfg.rgb else 'grayscale'}, compose stage {'on' if cfg.augment else 'off'}",
        f"- size: {dataset['bytes'] / 1e6:.1f} MB in all, {dataset['bytes'] / n / 1e3:.1f} kB "
        "per clip",
        f"- coverage (5th / 50th / 95th percentile): {_pct(clips.column('coverage').to_numpy())}",
        *([] if cfg.still else [f"- motion (mean frame difference, same percentiles): "
                                f"{_pct(clips.column('motion').to_numpy())}"]),
        *([f"- degenerate {_degenerate(cfg)}: "
           f"{figures['degenerate']} ({figures['degenerate_rate']:.1%}); "
           "`fractalvid stats` prints more"] if figures["degenerate"] is not None else
          ["- `fractalvid stats` prints more"]),
        "",
        *tally,
        "| compose operation | clips | share |",
        "|---|---|---|",
        *(f"| {k} | {v} | {v / n:.1%} |" for k, v in figures["ops"].items()),
        "",
        "Each clip's operations and their parameters are in its `KEY.json` (`augmentations`) "
        "and in `clips.parquet` (`ops`, a list of names; `augmentations`, JSON text).",
        "",
    ]


def _files(cfg: Config) -> list[str]:
    what = "its IFS endpoint parameters" if cfg.generator == "fractal" else \
        f"its {cfg.generator} parameters"
    return [
        "## Files",
        "",
        f"- `train-NNNNNN.tar`, `val-NNNNNN.tar`: WebDataset shards; each sample is "
        f"`KEY.{MEMBER[cfg.member_codec]}`, `KEY.json` (its metadata)"
        + (", `KEY.cls` (class id as text)" if cfg.labels else ""),
        "- `train-NNNNNN.parquet`: that shard's metadata; `clips.parquet`: all clips; "
        + (f"`classes.parquet`: one row per class with {what}" if cfg.labels else
           "`classes.parquet`: empty (an unlabeled set has no classes)"),
        "- `index.train.json`, `index.val.json`: wids shard indices; `dataset.json`: config, "
        "per-shard sample counts and sha256",
        ("- `preview.png`: images of each " + ("class" if cfg.labels else "row")
         if cfg.still else "- `preview.png`: frames of one clip per "
         + ("class" if cfg.labels else "row") + "; `preview.gif`: a few clips moving"),
        "",
        "![images](preview.png)" if cfg.still else "![clips](preview.gif)",
        "",
    ]


def _load(cfg: Config, dataset: dict) -> list[str]:
    last = max(dataset["splits"]["train"]["shards"] - 1, 0)
    rgb = ", 3" if cfg.rgb else ""
    if cfg.still:
        return _load_images(cfg, dataset, rgb, last)
    return [
        "## Load it",
        "",
        "```python",
        "from fractalvid.shards.reader import ClipReader  # with fractalvid installed",
        "for frames, label, meta in ClipReader(\".\", split=\"train\", frames=8, stride=2):",
        f"    ...  # frames: [8, {cfg.resolution}, {cfg.resolution}{rgb}]"
        + (" uint8; label: class id; meta: KEY.json" if cfg.labels else
           " uint8; label: None (unlabeled); meta: KEY.json"),
        "```",
        "",
        "or with the webdataset library:",
        "",
        "```python",
        "import webdataset as wds",
        "from fractalvid.shards.reader import clip_decoder",
        f'ds = wds.WebDataset("train-{{000000..{last:06d}}}.tar",'
        f' shardshuffle=False).decode(clip_decoder({"color=True" if cfg.rgb else ""}))',
        "for sample in ds:",
        f'    frames = sample["{MEMBER[cfg.codec]}"]  # [T, H, W{rgb}] uint8',
        "```",
        "",
    ]


def _load_images(cfg: Config, dataset: dict, rgb: str, last: int) -> list[str]:
    ext = MEMBER[cfg.member_codec]
    lines = ["## Load it", "", "```python",
             "from fractalvid.shards.reader import ClipReader  # with fractalvid installed",
             "for image, label, meta in ClipReader(\".\", split=\"train\"):",
             f"    ...  # image: [{cfg.resolution}, {cfg.resolution}{rgb}] uint8", "```", ""]
    if ext != "npy.zst":
        lines += ["or with the webdataset library alone:", "", "```python",
                  "import webdataset as wds",
                  f'ds = wds.WebDataset("train-{{000000..{last:06d}}}.tar",'
                  ' shardshuffle=False).decode("rgb8")',
                  "for sample in ds:",
                  f'    image = sample["{ext}"]  # [H, W, 3] uint8', "```", ""]
    return lines


def _config(cfg: Config) -> list[str]:
    return [
        "## Config",
        "",
        "| key | value | meaning |",
        "|---|---|---|",
        *(f"| {k} | {v} | {FIELD_HELP.get(k, '')} |" for k, v in cfg.to_dict().items()),
        "",
    ]

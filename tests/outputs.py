"""Helpers for tests: small data sets from settings, comparing whole data-set folders, and
render jobs of every variation."""

import hashlib


def digests(folder):
    """sha256 of every shard, table and JSON a run writes (config.json aside), by file name."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".tar", ".parquet", ".json")
                   and p.name != "config.json")  # fmt: skip
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def small_args(**settings):
    """``--set key=value`` arguments for the command line, from keyword settings."""
    return [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]


def generate(out, args):
    """Run ``fractalvid generate --out OUT ARGS --quiet --workers 1`` in-process; return OUT."""
    from click.testing import CliRunner

    from fractalvid.pipelines.cli import main

    result = CliRunner().invoke(main, ["generate", "--out", str(out), *args, "--quiet",
                                       "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def every_variation(frames=4):
    """Render jobs of one clip per flame variation (all 31 ids), ``frames`` frames each."""
    import numpy as np

    from fractalvid.gen.ifs import class_coefficients, sample_class
    from fractalvid.gen.render import RenderJob
    from fractalvid.gen.variations import VARIATIONS

    jobs = []
    for i, (name, vid) in enumerate(sorted(VARIATIONS.items(), key=lambda kv: kv[1])):
        cls = sample_class(np.random.default_rng(i), variations=(name,) if vid else (),
                           linear_fraction=0.0 if vid else 1.0)  # fmt: skip
        jobs.append(RenderJob(class_coefficients(cls)[:frames], vid, 1000 + i))
    return jobs

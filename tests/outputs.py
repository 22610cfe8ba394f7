"""Helpers for tests: small data sets from settings, and comparing whole data-set folders."""

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

"""Helpers for tests: small data sets from settings, comparing whole data-set folders, damaged
copies of them, render jobs of every variation, and the chaos kernels' arguments and numba's
counts for them."""

import hashlib
import shutil
import socket


def damaged_copy(folder, to, name, at=None):
    """A copy of data-set ``folder`` at ``to`` with one byte of file ``name`` flipped (the
    middle one unless ``at``); returns ``to``."""
    shutil.copytree(folder, to)
    data = bytearray((to / name).read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0xFF
    (to / name).write_bytes(bytes(data))
    return to


def digests(folder):
    """sha256 of every shard, table and JSON a run writes (config.json aside), by file name."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".tar", ".parquet", ".json")
                   and p.name != "config.json")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def small_args(**settings):
    """``--set key=value`` arguments for the command line, from keyword settings."""
    return [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]


def generate(out, args):
    """Run ``fractalvid generate --out OUT ARGS --quiet --workers 1`` in-process; return OUT."""
    from click.testing import CliRunner

    from fractalvid.pipelines.cli import main

    result = CliRunner().invoke(main, ["generate", "--out", str(out), *args, "--quiet",
                                       "--workers", "1"])
    assert result.exit_code == 0, result.output
    return out


def raw_frames(folder):
    """{key: frames} of every clip in the tars of a codec=raw set in ``folder``."""
    import tarfile

    from fractalvid.shards.codec import decode_raw

    frames = {}
    for path in sorted(folder.glob("*.tar")):
        with tarfile.open(path) as tar:
            for m in tar:
                if m.name.endswith(".npy.zst"):
                    frames[m.name.split(".")[0]] = decode_raw(tar.extractfile(m).read())
    return frames


def every_variation(frames=4):
    """Render jobs of one clip per flame variation (all 31 ids), ``frames`` frames each."""
    import numpy as np

    from fractalvid.gen.ifs import class_coefficients, sample_class
    from fractalvid.gen.render import RenderJob
    from fractalvid.gen.variations import VARIATIONS

    jobs = []
    for i, (name, vid) in enumerate(sorted(VARIATIONS.items(), key=lambda kv: kv[1])):
        cls = sample_class(np.random.default_rng(i), variations=(name,) if vid else (),
                           linear_fraction=0.0 if vid else 1.0)
        jobs.append(RenderJob(class_coefficients(cls)[:frames], vid, 1000 + i))
    return jobs


def histogram_args(jobs, size, chains, iters, burn, half=1.5):
    """The arguments of ``chaos_histograms`` and ``chaos_histograms_gpu`` (before ``splat`` or
    ``exact``) for every frame of ``jobs``, on a size x size canvas of the box [-half, half]^2:
    (coefs, probs, nmaps, vids, views, seeds, chains, iters, burn)."""
    import numpy as np

    from fractalvid.gen.render import _stack_jobs, _view

    coefs, probs, nmaps, vids, seeds = _stack_jobs(jobs)
    views = np.tile(_view((-half, half, -half, half), size), (coefs.shape[0], 1))
    return coefs, probs, nmaps, vids, views, seeds, chains, iters, burn


def numba_histograms(args):
    """What the CPU kernel counts for ``histogram_args``: (hist [F, H * W] int32, escapes [F])."""
    import numpy as np

    from fractalvid.gen.chaos import chaos_histograms

    views = args[4]
    hist = np.empty((views.shape[0], int(views[0, 4]) * int(views[0, 5])), np.int32)
    return hist, chaos_histograms(*args, False, hist)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broken_store(case, monkeypatch, tmp_path):
    """Point the AWS settings at a store that will not do, for ``case`` ("no such bucket",
    "no credentials", "bad profile", "endpoint down"); returns the URL to try. The S3 client
    cache is cleared, so the next client takes these settings."""
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    if case == "no such bucket":
        return "s3://nobucket/x"
    if case in ("no credentials", "bad profile"):
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(k)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        if case == "bad profile":
            monkeypatch.setenv("AWS_PROFILE", "nosuchprofile")
    if case == "endpoint down":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    return "s3://bkt/never"

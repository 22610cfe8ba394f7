"""fractalvid: synthetic fractal-video data sets for action-recognition pre-training.

Stages (data flows one way): ``fractalvid.gen`` (sampling, rendering, compose) ->
``fractalvid.shards`` (encoding, tar + Parquet writing, verification, reading) ->
``fractalvid.pipelines`` (configs, planning, running, the command line).

The API for scripts and notebooks (imported on first use, so ``import fractalvid`` stays
light)::

    from fractalvid import build_config, generate, verify, ClipReader, ClipStream
"""

# The stages install as fractalvid.gen, fractalvid.shards and fractalvid.pipelines from the
# top-level folders gen/, shards/ and pipelines/ (setup.cfg's package_dir): this file and
# __main__.py are the only ones inside the package that reach them by that installed name.
from fractalvid.pipelines.version import __version__

_API = {
    "build_config": "fractalvid.pipelines.config",
    "generate": "fractalvid.pipelines.api",
    "verify": "fractalvid.pipelines.api",
    "ClipReader": "fractalvid.shards.reader",
    "ClipError": "fractalvid.shards.reader",
    "collate": "fractalvid.shards.reader",
    "torch_dataset": "fractalvid.shards.reader",
    "ClipStream": "fractalvid.pipelines.stream",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'fractalvid' has no attribute {name!r}")

"""fractalvid: synthetic fractal-video data sets for action-recognition pre-training.

Stages (data flows one way): ``fractalvid.gen`` (sampling, rendering, compose) ->
``fractalvid.shards`` (encoding, tar + Parquet writing, verification, reading) ->
``fractalvid.pipelines`` (configs, planning, running, the command line).

The API for scripts and notebooks (imported on first use, so ``import fractalvid`` stays
light)::

    from fractalvid import build_config, generate, verify, ClipReader, ClipStream
"""

__version__ = "0.3.0"

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

"""fractalvid: synthetic fractal-video data sets for action-recognition pre-training.

Stages (data flows one way): ``fractalvid.gen`` (sampling, rendering, compose) ->
``fractalvid.shards`` (encoding, tar + Parquet writing, verification, reading) ->
``fractalvid.pipelines`` (configs, planning, running, the command line).
"""

__version__ = "0.2.0"

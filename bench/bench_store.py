"""fractalvid object-storage benchmark: upload and streaming-read MB/s against a local S3
endpoint (moto's server on 127.0.0.1, from the test extra), and a data set through it.

    .venv/bin/python bench/bench_store.py [--mb 64]

A local server measures fractalvid's own overhead (threads, requests, copies), not a cloud's
bandwidth. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path

from machine import machine


def _serve() -> str:
    import logging

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    boto3.client("s3").create_bucket(Bucket="bench")
    return "s3://bench"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64, help="size of the object moved")
    args = ap.parse_args()
    from fractalvid import ClipReader, build_config, generate
    from fractalvid.shards.store import open_read, open_store

    print(f"machine: {machine()}")
    root = _serve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "blob"
        blob.write_bytes(os.urandom(args.mb << 20))
        store = open_store(f"{root}/raw")
        start = time.perf_counter()
        store.put(blob, "blob")
        rows.append(("upload (put_file)", args.mb / (time.perf_counter() - start)))
        start = time.perf_counter()
        with open_read(f"{root}/raw/blob") as fh:
            while fh.read(1 << 20):
                pass
        rows.append(("streaming read, 1 MB reads", args.mb / (time.perf_counter() - start)))
        cfg = build_config("paper", {"classes": 8, "train_per_class": 4, "val_per_class": 1,
                                     "shard_size": 8, "resolution": 128, "codec": "raw"})
        start = time.perf_counter()
        generate(cfg, f"{root}/set", workers=os.cpu_count(), tmp=tmp)
        made = time.perf_counter() - start
        made_set = open_store(f"{root}/set")
        sizes = {n: made_set.stat(n).size for n in made_set.names()}
        size = sum(sizes.values())
        train = sum(v for n, v in sizes.items() if n.startswith("train-") and n.endswith(".tar"))
        start = time.perf_counter()
        n = sum(1 for _ in ClipReader(f"{root}/set"))
        rows.append((f"ClipReader over the store ({n} raw 128 px clips, decoded)",
                     train / 1e6 / (time.perf_counter() - start)))
        print(f"generate into the store: {made:.1f} s for {size / 1e6:.1f} MB")
    print("\n| measure | MB/s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    main()

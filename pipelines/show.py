"""``fractalvid show``: one clip of a data set, as a GIF or an MP4 to watch (a still, as a
PNG)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from ..shards.metadata import read_parquet
from ..shards.store import SHARD_STEM, Store, open_read


def find_clip(store: Store, key: str) -> tuple[str, dict, str, bytes]:
    """(shard, KEY.json, media extension, member bytes) of clip ``key``; KeyError when the data
    set has no such clip. clips.parquet says which shard; before finalize the shards are
    searched."""
    from ..shards.codec import MEDIA

    shards = sorted({n[:-4] for n in store.names() if n.endswith(".tar")
                     and SHARD_STEM.fullmatch(n[:-4])})
    raw = store.read("clips.parquet")
    if raw is not None:
        table = read_parquet(raw, columns=["key", "shard"])
        where = dict(zip(table.column("key").to_pylist(), table.column("shard").to_pylist()))
        shards = [where[key]] if where.get(key) in shards else []
    for shard in shards:
        with open_read(store.join(f"{shard}.tar")) as fh, tarfile.open(fileobj=fh) as tar:
            names = set(tar.getnames())
            ext = next((e for e in MEDIA if f"{key}.{e}" in names), None)
            if ext is None or f"{key}.json" not in names:
                continue
            meta = json.loads(tar.extractfile(f"{key}.json").read())
            return shard, meta, ext, tar.extractfile(f"{key}.{ext}").read()
    raise KeyError(f"{store}: no clip {key}")


def export_clip(store: Store, key: str, target: Path | None, kind: str | None
                ) -> tuple[Path, int]:
    """Write clip ``key`` to the new file ``target`` as ``kind`` ("gif", "mp4" or "png": a
    still, or a clip's middle frame); returns (the file, its frame count). Defaults: a PNG of
    a still, a GIF of a clip, named KEY.EXT here. An MP4 member is written as it is; a raw one
    is encoded. FileExistsError when the file is there already (nothing written)."""
    from ..shards.codec import decode_clip, is_still, recorded_shape
    from ..shards.gif import encode_gif
    from ..shards.png import encode_png

    _, meta, ext, data = find_clip(store, key)
    kind = kind or ("png" if is_still(ext, meta) else "gif")
    target = target or Path(f"{key}.{kind}")
    if target.exists():
        raise FileExistsError(f"{target}: exists; fractalvid writes only new files (choose "
                              "another name)")
    frames = decode_clip(ext, data, meta.get("channels", 1) == 3, shape=recorded_shape(meta))
    fps = meta.get("fps") or 12  # a still records none
    if kind == "png":
        blob, frames = encode_png(frames[len(frames) // 2]), frames[:1]
    elif kind == "gif":
        blob = encode_gif(frames, fps)
    elif ext == "mp4":
        blob = data
    else:
        from ..shards.encode import VideoFormat, encode_mp4s

        blob = encode_mp4s([frames], VideoFormat("h264", 23, "veryfast", fps))[0]
    with open(target, "xb") as fh:  # never over a file that appeared meanwhile
        fh.write(blob)
    return target, int(frames.shape[0])

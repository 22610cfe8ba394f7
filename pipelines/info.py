"""What this machine offers fractalvid (``fractalvid info``): versions, cores, ffmpeg, the GPU
and why it is or is not used, and the defaults ``generate`` would take here for a config."""

from __future__ import annotations

import platform
import subprocess
from typing import Any

from .config import Config
from .version import __version__


def gpu_report() -> dict[str, Any]:
    """{"available": bool, "reason": why not (or None), and for a device: its name, memory,
    shared memory a block may take and where the kernel counts at 256 and 128 px}."""
    from ..gen.render_gpu import choose_histogram, device_shared_limit, gpu_status

    reason = gpu_status()
    if reason is not None:
        return {"available": False, "reason": reason}
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    limit = device_shared_limit()
    return {
        "available": True, "reason": None, "cupy": cupy.__version__,
        "devices": cupy.cuda.runtime.getDeviceCount(),
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "memory_bytes": int(props["totalGlobalMem"]), "shared_per_block": limit,
        "histogram": {f"{size} px": choose_histogram(size * size, "auto", limit)
                      for size in (256, 128)},
    }


def ffmpeg_report() -> dict[str, Any]:
    """The ffmpeg that encodes (imageio-ffmpeg's) and its version line."""
    from ..shards.encode import ffmpeg_exe

    try:
        exe = ffmpeg_exe()
        first = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30,
                               check=True).stdout.splitlines()[0]
        first = first.split(" Copyright")[0]
    except Exception as exc:  # reported, not raised: info must always print
        return {"path": None, "version": None, "problem": str(exc)}
    return {"path": exe, "version": first, "problem": None}


def machine_report(cfg: Config) -> dict[str, Any]:
    """Everything ``fractalvid info`` prints, for config ``cfg`` (its defaults depend on it)."""
    import numba
    import numpy

    from ..gen.chaos import compiled_before
    from ..gen.lanes import code_target
    from .sizing import cpu_count, default_batch, default_workers

    gpu = gpu_report()
    defaults = {backend: {"workers": default_workers(backend, cfg),
                          "batch": default_batch(backend, cfg)}
                for backend in (("cpu", "gpu") if gpu["available"] else ("cpu",))}
    return {
        "fractalvid": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "cores": cpu_count(),
        "cpu_code": dict(zip(("target", "map_lookups"), code_target())),
        "cpu_kernels_cached": compiled_before(),
        "ffmpeg": ffmpeg_report(),
        "gpu": gpu,
        "auto_backend": "gpu" if gpu["available"] else "cpu",
        "defaults": defaults,
    }


def format_report(info: dict[str, Any]) -> list[str]:
    """The report as aligned lines for a terminal."""
    gpu, ff = info["gpu"], info["ffmpeg"]
    lines = [
        f"fractalvid    {info['fractalvid']} (Python {info['python']}, numpy {info['numpy']}, "
        f"numba {info['numba']}; {info['platform']})",
        f"cpu           {info['cores']} cores usable; numba code for "
        f"{info['cpu_code']['target']} (map lookups: {info['cpu_code']['map_lookups']}); kernels "
        + ("compiled and cached" if info["cpu_kernels_cached"] else
           "not compiled yet (the first run takes about 30 s more)"),
        "ffmpeg        " + (f"{ff['version']} ({ff['path']})" if ff["path"] else
                            f"not usable: {ff['problem']}"),
    ]
    if gpu["available"]:
        modes = ", ".join(f"{k} {v}" for k, v in gpu["histogram"].items())
        lines.append(f"gpu           {gpu['name']}, {gpu['memory_bytes'] / 1e9:.1f} GB, "
                     f"{gpu['shared_per_block'] // 1024} KB shared memory a block "
                     f"(counts: {modes}); CuPy {gpu['cupy']}, {gpu['devices']} device(s)")
    else:
        lines.append(f"gpu           none: {gpu['reason']}")
    lines.append(f"--backend auto uses the {info['auto_backend'].upper()}")
    for backend, d in info["defaults"].items():
        lines.append(f"defaults      --backend {backend}: --workers {d['workers']}, "
                     f"--batch {d['batch']}")
    return lines

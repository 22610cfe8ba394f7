"""Replay launches of chaos_frames on the CPU, for a test that runs this in a process of its
own under a sanitizer (numpy and the kernel only, so a report is about the kernel).

    python sanitized_launch.py CHAOS_CU LAUNCH.npz RESULT.npz [LAUNCH.npz RESULT.npz ...]

A LAUNCH.npz holds the kernel's arguments by name (as in CHAOS_FRAMES) and grid, block and
shared_mem; its RESULT.npz gets hist and escapes.
"""

import sys
from pathlib import Path

import numpy as np
from emulator import CHAOS_FRAMES, RawKernel


def argument(data, name, kind):
    if isinstance(kind, type) and issubclass(kind, np.generic):
        return np.ascontiguousarray(data[name], kind)
    return np.int32(data[name])  # a C int


kernel = RawKernel(Path(sys.argv[1]).read_text(), "chaos_frames")
for launch, result in zip(sys.argv[2::2], sys.argv[3::2]):
    data = np.load(launch)
    kernel.max_dynamic_shared_size_bytes = int(data["shared_mem"])
    args = [argument(data, name, kind) for name, kind in CHAOS_FRAMES]
    kernel((int(data["grid"]),), (int(data["block"]),), args, shared_mem=int(data["shared_mem"]))
    np.savez(result, hist=args[12], escapes=args[13])

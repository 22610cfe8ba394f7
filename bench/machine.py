"""What a benchmark ran on: the CPU model and its widest vector instruction set."""

from __future__ import annotations

import os
import platform

from fractalvid.gen.lanes import code_target


def machine() -> str:
    """CPU model and its widest vector instruction set (AVX-512 and AVX2 differ 2x here)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    target, lookups = code_target()
    override = " (NUMBA_CPU_NAME)" if os.environ.get("NUMBA_CPU_NAME") else ""
    return (f"{model}, {isa}, {os.cpu_count()} cores; numba code for {target}{override}, "
            f"map lookups: {lookups}")

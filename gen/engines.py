"""The renderer for a backend: the CPU (numba) one, or the GPU (CuPy) one where a device is
there. Apart from both renderers, so neither imports the other."""

from __future__ import annotations

from .render import CpuRenderer, Renderer


def get_renderer(backend: str) -> Renderer:
    """The renderer for ``backend`` ("cpu", "gpu" or "auto": GPU when CuPy sees a device)."""
    if backend == "cpu":
        return CpuRenderer()
    if backend in ("gpu", "auto"):
        try:
            from .render_gpu import GpuRenderer, gpu_status
        except ImportError as exc:
            if backend == "auto":
                return CpuRenderer()
            raise RuntimeError(f"--backend gpu needs the GPU backend: {exc}") from exc
        why_not = gpu_status()
        if why_not is None:
            return GpuRenderer()
        if backend == "auto":
            return CpuRenderer()
        raise RuntimeError(f"--backend gpu: {why_not}; or use --backend cpu")
    raise ValueError(f"unknown backend {backend!r}; use cpu, gpu or auto")

"""The table of generators: the config key ``generator`` names a row (default ``fractal``).

Adding a generator is one module in gen/ (see generator.py for what it owns) and one row here.
"""

from __future__ import annotations

from typing import Any

from . import dead_leaves, fractal, octopus, perlin
from .generator import Generator

GENERATORS: dict[str, Generator] = {
    "fractal": fractal.GENERATOR,
    "perlin": perlin.GENERATOR,
    "dead_leaves": dead_leaves.GENERATOR,
    "octopus": octopus.GENERATOR,
}
DEFAULT = "fractal"


def generator_of(cfg: Any) -> Generator:
    """The generator a config names (its ``generator`` key)."""
    return GENERATORS[getattr(cfg, "generator", DEFAULT)]


def owners() -> dict[str, str]:
    """{key name: generator name} of every generator's own keys."""
    return {k.name: name for name, g in GENERATORS.items() for k in g.keys}


def renderer_for(gen: Generator, backend: str):
    """The renderer ``gen`` runs on for ``backend``: the chaos-game renderer of the backend,
    or the CPU's for a generator that renders on the CPU only ("auto" takes it; "gpu" is
    refused in one line). Raises RuntimeError / ValueError naming the problem."""
    from .engines import get_renderer
    from .render import CpuRenderer

    if backend not in ("cpu", "gpu", "auto"):
        raise ValueError(f"unknown backend {backend!r}; use cpu, gpu or auto")
    if not gen.gpu:
        if backend == "gpu":
            raise RuntimeError(f"--backend gpu: the {gen.name} generator renders on the CPU "
                               "only; use --backend cpu (or auto)")
        return CpuRenderer()
    return get_renderer(backend)

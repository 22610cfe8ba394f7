"""Which array module holds an array, and getting arrays to the host: the seam between the
CPU path (numpy) and the GPU path (cupy), so stages written against ``xp`` take either."""

from __future__ import annotations

from typing import Any

import numpy as np


def array_module(a: Any) -> Any:
    """cupy for a cupy array, else numpy (cupy is imported only when an array is cupy's)."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def to_host(a: Any) -> np.ndarray:
    """A numpy array with the contents of ``a`` (copied from the device for cupy arrays)."""
    return a if isinstance(a, np.ndarray) else a.get()

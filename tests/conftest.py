import os

import pytest

# Tests share the numba JIT cache; keep the worker count small on 2-core CI.
os.environ.setdefault("NUMBA_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def cli():
    """Invoke the fractalvid command line in-process: cli(args) -> click Result."""
    from click.testing import CliRunner

    from fractalvid.pipelines.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


if os.environ.get("FRACTALVID_EMULATE_GPU") == "1":
    # Run the GPU tests against chaos.cu compiled for the CPU (tests/cuda_on_cpu): the kernel's
    # logic and the GPU path's host code, not CuPy or the device (see make test-gpu-emulated).
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from cuda_on_cpu.emulator import fake_cupy

    sys.modules["cupy"] = fake_cupy()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` skip, with the reason, where CuPy sees no CUDA device."""
    if not any("gpu" in item.keywords for item in items):
        return
    from fractalvid.gen.render_gpu import gpu_available

    if gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device visible to CuPy (make test-gpu on a GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

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

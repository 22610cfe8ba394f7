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


@pytest.fixture(scope="session")
def s3_env():
    """A moto S3 server on a free local port, with a bucket ``bkt``, and the environment that
    points AWS clients at it (the standard AWS_ENDPOINT_URL and credentials)."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] (the test extra)")
    import logging

    from outputs import free_port

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the log
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    boto3.client("s3").create_bucket(Bucket="bkt")
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


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

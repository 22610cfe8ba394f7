"""A stand-in for the parts of CuPy the GPU renderer uses, running ``chaos.cu`` on the CPU.

``RawKernel`` compiles the CUDA source it is given with g++ and the shim of ``cuda_cpu.h`` (one
thread per CUDA thread, a barrier, shared memory, atomics), checks each launch the way the CUDA
runtime would (argument dtypes and layout, block size, dynamic shared memory over 48 KB only
when the kernel was allowed it) and runs it. Arrays are plain numpy arrays, so everything around
the kernel runs its numpy path: this tests the kernel's logic and the host code that calls it,
not CuPy itself or the device's speed.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DEFAULT_SHARED = 48 * 1024  # dynamic shared memory a launch may use without opting in
MAX_SHARED = 227 * 1024  # the most a block may opt in to on Hopper (sm_90)
MAX_THREADS = 1024

# chaos_frames' parameters as the kernel declares them: numpy dtype for pointers, ctypes type
# for scalars. A host array of another dtype would be read as garbage on a GPU; here it fails.
CHAOS_FRAMES = (
    ("coefs", np.float32), ("thresholds", np.uint32), ("alias", np.int32), ("nmaps", np.int64),
    ("vids", np.int64), ("views", np.float32), ("seeds", np.uint64), ("nmax", ctypes.c_int),
    ("chains", ctypes.c_int), ("iters", ctypes.c_int), ("burn", ctypes.c_int),
    ("hist_mode", ctypes.c_int), ("hist", np.int32), ("escapes", np.uint64),
)


# Builds under a sanitizer (the environment variable SANITIZE_VARIABLE names it): the process
# must also preload the sanitizer's runtime (``sanitizer_runtime``), as ctypes loads the kernel
# into a Python that was not built with it.
SANITIZE_VARIABLE = "CUDA_ON_CPU_SANITIZE"
WORKDIR_VARIABLE = "CUDA_ON_CPU_WORKDIR"
SANITIZE_FLAGS = {
    "address": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
    "thread": ["-fsanitize=thread"],
}
RUNTIMES = {"address": "libasan.so", "thread": "libtsan.so"}


def compiler_available() -> bool:
    return shutil.which("g++") is not None


@functools.cache
def sanitizer_runtime(sanitizer: str) -> str | None:
    """Path of g++'s runtime library for ``sanitizer`` ("address" or "thread"), or None when
    g++ has none or a Python that preloads it does not start cleanly here (ThreadSanitizer, for
    one, refuses some kernels' memory layouts)."""
    if not compiler_available():
        return None
    name = RUNTIMES[sanitizer]
    found = subprocess.run(["g++", f"-print-file-name={name}"], capture_output=True,
                           text=True).stdout.strip()
    if not (os.path.isabs(found) and os.path.exists(found)):
        return None
    env = {**os.environ, "LD_PRELOAD": found, "ASAN_OPTIONS": "detect_leaks=0"}
    probe = subprocess.run([sys.executable, "-c", "import numpy"], env=env, capture_output=True,
                           timeout=120)
    return found if probe.returncode == 0 else None


def build(source: str, workdir: Path, sanitizer: str | None = None) -> ctypes.CDLL:
    """Compile CUDA ``source`` (the text of chaos.cu) for the CPU, under ``sanitizer`` if
    given; cached by source and flags."""
    flags = ["-O2"] if sanitizer is None else ["-O1", "-g", "-fno-omit-frame-pointer",
                                               *SANITIZE_FLAGS[sanitizer]]
    digest = hashlib.sha256((source + " ".join(flags)).encode()).hexdigest()[:16]
    lib = workdir / f"chaos_cpu_{digest}.so"
    if not lib.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "chaos.cu").write_text(source)
        subprocess.run(
            ["g++", "-std=c++17", *flags, "-ffp-contract=off", "-fPIC", "-shared", "-pthread",
             f"-I{workdir}", f"-I{HERE}", "-x", "c++", str(HERE / "chaos_launch.cpp"),
             "-o", str(lib)],
            check=True, capture_output=True, text=True,
        )
    cdll = ctypes.CDLL(str(lib))
    argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint]
    for _, kind in CHAOS_FRAMES:
        if isinstance(kind, type) and issubclass(kind, np.generic):
            argtypes.append(np.ctypeslib.ndpointer(kind, flags="C_CONTIGUOUS"))
        else:
            argtypes.append(kind)
    cdll.launch_chaos_frames.argtypes = argtypes
    cdll.launch_chaos_frames.restype = ctypes.c_int
    return cdll


class RawKernel:
    """cupy.RawKernel for ``chaos_frames``, run on the CPU."""

    # Built kernels go to a folder removed when Python exits, or to WORKDIR_VARIABLE's folder
    # (a process that may not exit cleanly, such as a sanitized one, gets its caller's).
    _workdir = None if os.environ.get(WORKDIR_VARIABLE) else tempfile.TemporaryDirectory(
        prefix="cuda_on_cpu_")
    workdir = Path(os.environ.get(WORKDIR_VARIABLE) or _workdir.name)
    launches: list[dict] = []  # what each launch asked for, for tests to inspect
    keep_arguments = False  # True: launches also keep a copy of the arguments, as passed

    def __init__(self, code: str, name: str, options: tuple = ()):
        if name != "chaos_frames":
            raise ValueError(f"the CPU emulator knows chaos_frames only, not {name}")
        self.lib = build(code, self.workdir, os.environ.get(SANITIZE_VARIABLE) or None)
        self.options = options
        self.max_dynamic_shared_size_bytes = 0

    def __call__(self, grid, block, args, shared_mem: int = 0):
        (gx, *gr), (bx, *br) = grid, block
        if any(v != 1 for v in (*gr, *br)):
            raise ValueError("chaos_frames launches a 1-D grid of 1-D blocks")
        if not 0 < bx <= MAX_THREADS or gx <= 0:
            raise ValueError(f"invalid launch: grid {grid}, block {block}")
        allowed = max(DEFAULT_SHARED, self.max_dynamic_shared_size_bytes)
        if shared_mem > min(allowed, MAX_SHARED):
            raise ValueError(f"too many resources requested: {shared_mem} bytes of shared "
                             f"memory, allowed {allowed}")
        if len(args) != len(CHAOS_FRAMES):
            raise TypeError(f"chaos_frames takes {len(CHAOS_FRAMES)} arguments, got {len(args)}")
        for (name, kind), value in zip(CHAOS_FRAMES, args):
            if kind is ctypes.c_int and not isinstance(value, np.int32):
                raise TypeError(f"{name}: pass a np.int32 for a C int, got {type(value)}")
        hist = args[12]
        npix = int(args[5][0, 4]) * int(args[5][0, 5])
        needs = (0, 4 * npix, 4 * ((npix + 1) // 2))[int(args[11])]  # chaos.cu's hist_mode
        if shared_mem < needs:
            raise ValueError(f"hist_mode {int(args[11])} needs {needs} bytes of shared memory "
                             f"for {npix} pixels, got {shared_mem}")
        if hist.shape != (gx, npix):
            raise ValueError(f"hist {hist.shape}, expected {(gx, npix)}")
        self.launches.append({"grid": gx, "block": bx, "shared_mem": shared_mem,
                              "hist_mode": int(args[11])})
        if self.keep_arguments:
            self.launches[-1]["arguments"] = {name: np.array(value) for (name, _), value
                                              in zip(CHAOS_FRAMES, args)}
        values = [int(v) if kind is ctypes.c_int else v for (_, kind), v in zip(CHAOS_FRAMES, args)]
        if self.lib.launch_chaos_frames(gx, bx, shared_mem, *values):
            raise RuntimeError(f"chaos_frames wrote shared memory past the {shared_mem} bytes "
                               "the launch gave it")


class DeviceArray(np.ndarray):
    """A numpy array with cupy's ``get()`` (a host copy), for tests written against cupy."""

    def get(self) -> np.ndarray:
        return np.array(self)


def _on_device(make):
    def wrapped(*args, **kwargs):
        return np.asarray(make(*args, **kwargs)).view(DeviceArray)

    return wrapped


class _MemoryPool:
    def total_bytes(self) -> int:
        return 0


class OutOfMemoryError(MemoryError):
    """cupy.cuda.memory.OutOfMemoryError: an allocation the device cannot hold."""


class _Stream:
    """A CUDA stream where every launch already ran to its end."""

    def __init__(self, non_blocking: bool = False):
        self.non_blocking = non_blocking

    def synchronize(self) -> None:
        pass

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc) -> None:
        pass


def fake_cupy() -> types.ModuleType:
    """A module that passes for cupy where the GPU renderer and its tests look: numpy's
    namespace (arrays made by it carry ``get()``), the emulated RawKernel, and a runtime that
    reports one device."""
    mod = types.ModuleType("cupy")
    mod.__version__ = "emulated"
    mod.__dict__.update({k: v for k, v in np.__dict__.items() if not k.startswith("__")})
    for name in ("asarray", "array", "zeros", "zeros_like", "empty", "ones", "arange"):
        setattr(mod, name, _on_device(getattr(np, name)))
    mod.RawKernel = RawKernel
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda i: {"name": b"CUDA kernel emulated on the CPU",
                                       "totalGlobalMem": 80 * 2**30},
    )
    device = types.SimpleNamespace(synchronize=lambda: None, id=0,
                                   attributes={"MaxSharedMemoryPerBlockOptin": MAX_SHARED})
    memory = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError)
    mod.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda *a: device, Stream=_Stream,
                                     memory=memory)
    mod.get_default_memory_pool = _MemoryPool
    return mod

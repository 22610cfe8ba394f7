"""Eight-lane table lookups (gen/lanes.py): the same values on every CPU numba compiles for."""

import json
import os
import subprocess
import sys
import textwrap

import llvmlite.binding as ll
import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.lanes import LANES, take8
from fractalvid.gen.render import RenderJob


@nb.njit
def _take_all(table, index, starts, out):
    for j in starts:
        take8(table, index, j, out)


@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 6), blocks=st.integers(1, 20),
       dtype=st.sampled_from([np.float32, np.int32]))
@settings(max_examples=60, deadline=None)
def test_take8_reads_each_lanes_entry_in_every_row(seed, rows, blocks, dtype):
    """out[r, j] = table[r, index[j] & 7] for all rows and lanes, whatever the index's high
    bits (a key beyond the table reads its low three bits, never memory past the table)."""
    rng = np.random.default_rng(seed)
    table = rng.uniform(-1e3, 1e3, (rows, LANES)).astype(dtype)
    index = rng.integers(-2**31, 2**31, blocks * LANES).astype(np.int32)
    index[::3] &= 7  # most keys in range, as the chaos game's are
    out = np.zeros((rows, blocks * LANES), dtype)
    _take_all(table, index, np.arange(0, blocks * LANES, LANES), out)
    np.testing.assert_array_equal(out, table[:, index & 7])


def test_take8_touches_only_the_eight_lanes_it_is_given():
    """A lookup at an offset that is no multiple of 8 writes exactly out[:, start:start + 8]."""
    table = np.arange(16, dtype=np.float32).reshape(2, LANES)
    index = np.arange(24, dtype=np.int32) % LANES
    out = np.full((2, 24), -1, np.float32)
    _take_all(table, index, np.array([5]), out)
    expected = np.full((2, 24), -1, np.float32)
    expected[:, 5:13] = table[:, index[5:13]]
    np.testing.assert_array_equal(out, expected)


_PROBE = textwrap.dedent("""
    import numba as nb, numpy as np
    from numba.core.registry import cpu_target
    from fractalvid.gen.lanes import compiles_avx2, take8

    @nb.njit
    def take(table, index, out):
        for j in range(0, index.shape[0], 8):
            take8(table, index, j, out)

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.int32):
        table = rng.uniform(-50, 50, (3, 8)).astype(dtype)
        index = rng.integers(0, 8, 64).astype(np.int32)
        out = np.zeros((3, 64), dtype)
        take(table, index, out)
        assert (out == table[:, index]).all()
    asm = take.inspect_asm(take.signatures[0])
    print(compiles_avx2(cpu_target.target_context.codegen()), "vpermps" in asm or "vpermd" in asm)
""")


def _python_compiling_for(cpu: str, args: list[str], cache) -> str:
    """stdout of ``python args`` with numba compiling for ``cpu`` (x86-64 hosts only) into a
    cache of its own; the run must succeed."""
    if not ll.Target.from_default_triple().name.startswith("x86"):
        pytest.skip("x86-64 targets only")
    env = {**os.environ, "NUMBA_CPU_NAME": cpu, "NUMBA_CPU_FEATURES": "",
           "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("cpu,avx2", [("x86-64", False), ("sandybridge", False),
                                      ("haswell", True)])
def test_each_cpu_gets_its_own_lookup_and_the_same_values(cpu, avx2, tmp_path):
    """numba compiling for a CPU without AVX2 (plain x86-64, or AVX without AVX2) gets the
    scalar lookups, one with AVX2 the permutes, and both read the same entries."""
    if avx2 and not ll.get_host_cpu_features().get("avx2", False):
        pytest.skip("this CPU cannot run AVX2 code")
    out = _python_compiling_for(cpu, ["-c", _PROBE], tmp_path)
    assert out.split() == [str(avx2), str(avx2)]


@pytest.mark.parametrize("shape", [(4, 9, 6), (4, 0, 6), (4, 3, 5), (3, 6)])
def test_a_render_job_names_a_map_count_the_kernels_cannot_hold(shape):
    with pytest.raises(ValueError, match="maps"):
        RenderJob(np.zeros(shape), 0, 1)


def test_info_names_the_code_numba_makes_and_its_lookups(tmp_path):
    """`fractalvid info` says which CPU numba compiles for and how it looks up a point's map,
    so a slow node of a cluster shows why."""
    out = _python_compiling_for("x86-64", ["-m", "fractalvid", "info", "--json"], tmp_path)
    assert json.loads(out)["cpu_code"] == {"target": "x86-64", "map_lookups": "scalar loads"}

"""The GPU backend: the kernel compiles (anywhere nvcc is), its host-side pieces match the
CPU's, and on a device its renders agree with the CPU's (tests marked ``gpu``)."""

import shutil
import subprocess

import numpy as np
import pytest

from fractalvid.gen.chaos import _box3, alias_table, alias_tables
from fractalvid.gen.ifs import class_coefficients, sample_class
from fractalvid.gen.render import CpuRenderer, RenderJob, RenderSettings
from fractalvid.gen.render_gpu import KERNEL_SOURCE, box3, gpu_available
from fractalvid.gen.variations import DEFAULT_NONLINEAR, VARIATIONS, variation_id

from outputs import every_variation, histogram_args, numba_histograms

# Paper-like point counts on a small canvas, so sampling noise stays far below the 0.99 bar.
SETTINGS = RenderSettings(resolution=64, chains=128, iterations=7500, burn_in=200,
                          coarse_resolution=64, coarse_points=2000)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_kernel_compiles_for_hopper_without_spills(tmp_path):
    ptx = tmp_path / "chaos.ptx"
    subprocess.run(["nvcc", "--ptx", "-arch=sm_90", str(KERNEL_SOURCE), "-o", str(ptx)],
                   check=True, capture_output=True)
    # float32 throughout: a double literal or function would show as .f64 instructions, which
    # consumer GPUs run at 1/64 of the float32 rate
    assert ".f64" not in ptx.read_text()
    if shutil.which("ptxas"):
        info = subprocess.run(["ptxas", "-v", "-arch=sm_90", str(ptx), "-o",
                               str(tmp_path / "chaos.cubin")], capture_output=True, text=True,
                              check=True)
        lines = [ln for ln in info.stderr.splitlines() if "spill" in ln]
        assert lines and all("0 bytes spill stores, 0 bytes spill loads" in ln for ln in lines)


def _nvrtc():
    """libnvrtc from the nvidia-cuda-nvrtc wheel (the test extra), or None."""
    import ctypes
    import glob

    try:
        import nvidia.cuda_nvrtc as pkg
    except ImportError:
        return None
    libs = sorted(glob.glob(f"{list(pkg.__path__)[0]}/lib/libnvrtc.so*"))
    return ctypes.CDLL(libs[0]) if libs else None


@pytest.mark.skipif(_nvrtc() is None, reason="libnvrtc not installed (pip install .[test])")
@pytest.mark.parametrize("fmad", [False, True])
def test_kernel_compiles_with_nvrtc_as_cupy_compiles_it(fmad, tmp_path):
    """CuPy compiles the kernel at run time with NVRTC, which has no host headers (nvcc, above,
    is more forgiving); compile it the same way here, then check registers and spills."""
    import ctypes

    from fractalvid.gen.render_gpu import kernel_options

    nvrtc = _nvrtc()
    prog = ctypes.c_void_p()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(prog), KERNEL_SOURCE.read_bytes(), b"chaos.cu",
                                    0, None, None) == 0
    opts = [o.encode() for o in (*kernel_options(fmad), "--gpu-architecture=compute_90")]
    rc = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    assert rc == 0, log.value.decode()
    assert "warning" not in log.value.decode(), log.value.decode()
    nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetPTX(prog, ptx)
    assert b".entry chaos_frames" in ptx.value
    if shutil.which("ptxas"):
        (tmp_path / "chaos.ptx").write_bytes(ptx.value)
        info = subprocess.run(["ptxas", "-v", "-arch=sm_90", str(tmp_path / "chaos.ptx"), "-o",
                               str(tmp_path / "chaos.cubin")], capture_output=True, text=True,
                              check=True)
        assert "0 bytes spill stores, 0 bytes spill loads" in info.stderr, info.stderr


def test_kernel_knowsevery_variation():
    """Each variation id of the CPU has a case in the CUDA source (or is the default)."""

    source = KERNEL_SOURCE.read_text()
    for name, vid in VARIATIONS.items():
        assert f"case {vid}:" in source or f"vid == {vid}" in source, name


def test_batched_alias_tables_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    probs = rng.random((5, 4))
    nmaps = np.array([2, 3, 4, 4, 3])
    for f, m in enumerate(nmaps):
        probs[f, m:] = 0
        probs[f, :m] /= probs[f, :m].sum()
    prob, alias = np.ones((5, 4)), np.zeros((5, 4), np.int64)
    alias_tables(probs, nmaps, prob, alias)
    for f, m in enumerate(nmaps):
        p1, a1 = np.empty(m), np.empty(m, np.int64)
        alias_table(probs[f, :m], p1, a1)
        np.testing.assert_array_equal(prob[f, :m], p1)
        np.testing.assert_array_equal(alias[f, :m], a1)


def test_array_box_filter_equals_the_cpu_kernel():
    counts = np.random.default_rng(1).integers(0, 50, (3, 9, 7)).astype(np.int32)
    expected = counts.reshape(3, 63).copy()
    for f in range(3):
        _box3(expected[f], 9, 7)
    np.testing.assert_array_equal(box3(counts, np), expected.reshape(3, 9, 7))


@pytest.mark.skipif(gpu_available(), reason="CuPy sees a device (real or emulated)")
def test_gpu_backend_without_a_device_fails_with_one_clear_line(cli, tmp_path):
    result = cli("generate", "--out", tmp_path / "x", "--backend", "gpu")
    assert result.exit_code == 2 and "--backend gpu" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(gpu_available(), reason="CuPy sees a device (real or emulated)")
def test_info_says_why_no_gpu_is_used_and_what_auto_takes(cli):
    import json

    from fractalvid.pipelines.sizing import cpu_count

    text = cli("info").output
    assert "gpu           none: CuPy" in text and "--backend auto uses the CPU" in text
    report = json.loads(cli("info", "--json").output)
    assert report["auto_backend"] == "cpu" and report["gpu"]["reason"]
    assert report["defaults"] == {"cpu": {"workers": cpu_count(), "batch": 8}}
    assert report["ffmpeg"]["version"].startswith("ffmpeg version")


@pytest.mark.skipif(not gpu_available(), reason="no CUDA device (real or emulated)")
def test_info_names_the_device_and_the_gpu_defaults(cli):
    import json

    import cupy

    from fractalvid.pipelines.sizing import GPU_WORKERS, cpu_count

    report = json.loads(cli("info", "--preset", "paper", "--json").output)
    gpu = report["gpu"]
    assert report["auto_backend"] == "gpu" and gpu["available"] and gpu["devices"] >= 1
    assert gpu["memory_bytes"] == cupy.cuda.runtime.getDeviceProperties(0)["totalGlobalMem"]
    assert gpu["shared_per_block"] > 0  # 227 KB on Hopper
    assert gpu["histogram"] == {"256 px": "global", "128 px": "global"}  # the fastest on an H200
    assert report["defaults"]["gpu"]["batch"] == 128
    assert 1 <= report["defaults"]["gpu"]["workers"] <= min(GPU_WORKERS, cpu_count())
    assert f"gpu           {gpu['name']}, " in cli("info").output


@pytest.mark.skipif(gpu_available(), reason="CuPy sees a device (real or emulated)")
def test_auto_backend_falls_back_to_the_cpu():
    from fractalvid.gen.engines import get_renderer

    assert get_renderer("auto").name == "cpu"


def test_auto_says_which_backend_it_takes_and_why(cli, tmp_path):
    from outputs import small_args

    args = small_args(classes=1, train_per_class=1, val_per_class=0, resolution=32)
    result = cli("generate", "--out", tmp_path / "x", "--backend", "auto", *args, "--workers", "1")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    if gpu_available():
        assert first.startswith("--backend auto: the GPU (") and first.endswith(")")
    else:
        assert first.startswith("--backend auto: the CPU (no GPU: CuPy")


def _jobs():
    jobs = []
    for i, v in enumerate(("linear", *DEFAULT_NONLINEAR)):
        cls = sample_class(np.random.default_rng(i), variations=(v,) if v != "linear" else (),
                           linear_fraction=1.0 if v == "linear" else 0.0)
        jobs.append(RenderJob(class_coefficients(cls)[:6], variation_id(v), 1000 + i))
    return jobs


@pytest.mark.gpu
def test_fused_gpu_counts_agree_with_the_cpu_statistically():
    """With fused multiply-adds (exact=False) orbits part from the CPU's after a few steps, so
    the points differ, but their histograms in one view must be the same picture. (Framing
    is not compared: from 2,000 coarse points it is itself noisy under other orbits. On an
    H200 a horseshoe's window edge moved by 0.41, two coarse cells.)"""
    from fractalvid.gen.render_gpu import chaos_histograms_gpu

    jobs = _jobs()
    args = histogram_args(jobs, 64, 128, 7500, 200, half=4.0)
    fused, _ = chaos_histograms_gpu(*args, exact=False)
    exact, _ = numba_histograms(args)
    fused, vids = fused.get(), args[3]  # (the emulated device does not fuse: equal there)
    for f in range(exact.shape[0]):
        r = np.corrcoef(exact[f].astype(float), fused[f].astype(float))[0, 1]
        assert r > 0.99, (int(vids[f]), f, r)


@pytest.mark.gpu
# 64 px: int counters in shared memory; 256 px: global atomics, or 16-bit counters in shared
# memory added out every 511 steps (four times in 2,000)
@pytest.mark.parametrize(("size", "histogram"), [(64, "shared"), (256, "auto"), (256, "packed")])
def test_the_device_counts_exactly_what_numba_counts(size, histogram):
    """Compiled without FMA and using no device math library function, the kernel must give
    numba's counts bit for bit, for every variation: any difference is a bug, not rounding."""
    from fractalvid.gen.render_gpu import chaos_histograms_gpu

    args = histogram_args(every_variation(), size, 128, 2000, 20)
    hist, escapes = chaos_histograms_gpu(*args, histogram=histogram)
    expected, expected_escapes = numba_histograms(args)
    hist = hist.get()
    for f, vid in enumerate(args[3]):
        np.testing.assert_array_equal(hist[f], expected[f], err_msg=f"variation {vid}")
    np.testing.assert_array_equal(escapes.get(), expected_escapes)


@pytest.mark.gpu
def test_gpu_renders_equal_the_cpu_renders():
    from fractalvid.gen.render_gpu import GpuRenderer

    jobs = every_variation()
    for a, b in zip(CpuRenderer().render(jobs, SETTINGS), GpuRenderer().render(jobs, SETTINGS)):
        assert a.window == b.window and a.escaped == b.escaped
        np.testing.assert_array_equal(a.frames, b.frames.get())


@pytest.mark.gpu
def test_gpu_output_is_deterministic():
    from fractalvid.gen.render_gpu import GpuRenderer

    jobs = _jobs()[:3]
    a = GpuRenderer().render(jobs, SETTINGS)
    b = GpuRenderer().render(jobs, SETTINGS)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.frames.get(), y.frames.get())
        assert x.window == y.window and x.escaped == y.escaped


@pytest.mark.gpu
def test_a_small_data_set_made_on_the_gpu_verifies(cli, tmp_path):
    out = tmp_path / "gpu"
    result = cli("generate", "--out", out, "--backend", "gpu", "--set", "classes=3",
                 "--set", "train_per_class=3", "--set", "val_per_class=1",
                 "--set", "shard_size=4", "--quiet", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert cli("verify", out, "--deep").exit_code == 0


@pytest.mark.gpu
@pytest.mark.parametrize("augment, codec", [("false", "h264"), ("true", "h264"), ("true", "raw")])
def test_the_gpu_makes_the_cpu_data_set_byte_for_byte(tmp_path, augment, codec):
    """Exact renders, and a compose stage of correctly rounded operations and host-made
    tables on cupy: the same shards, tables and JSON as the CPU's, in either codec."""
    from outputs import digests, generate, small_args

    args = small_args(classes=3, train_per_class=3, val_per_class=1, shard_size=4,
                      augment=augment, color="true" if augment == "true" else "false",
                      codec=codec)
    cpu = generate(tmp_path / "cpu", [*args, "--backend", "cpu"])
    gpu = generate(tmp_path / "gpu", [*args, "--backend", "gpu"])
    assert digests(gpu) == digests(cpu)


@pytest.mark.gpu
@pytest.mark.parametrize("codec", ["png", "raw"])
def test_the_gpu_makes_the_cpu_image_set_byte_for_byte(tmp_path, codec):
    """A still is a one-frame job of the kernel: the same images and tables as the CPU's
    (texture, hue, several fractals, blur; on a device, composed there: the arithmetic of
    that path is held to the CPU kernels' in test_images.py)."""
    from outputs import digests, generate, small_args

    args = ["--preset", "images", *small_args(classes=2, train_per_class=4, val_per_class=1,
                                              shard_size=4, resolution=64, objects="1,3",
                                              image_codec=codec)]
    cpu = generate(tmp_path / "cpu", [*args, "--backend", "cpu"])
    gpu = generate(tmp_path / "gpu", [*args, "--backend", "gpu"])
    assert digests(gpu) == digests(cpu)


@pytest.mark.gpu
def test_batching_does_not_change_a_gpu_render():
    """A clip renders the same alone and in a batch with clips of more maps (padding)."""
    from fractalvid.gen.render_gpu import GpuRenderer

    jobs = _jobs()
    alone = GpuRenderer().render(jobs[:1], SETTINGS)[0]
    batched = GpuRenderer().render(jobs, SETTINGS)[0]
    np.testing.assert_array_equal(alone.frames.get(), batched.frames.get())


@pytest.mark.gpu
def test_the_gpu_stream_makes_the_cpu_streams_clips_and_keeps_them_on_the_device():
    """ClipStream on the GPU: the CPU stream's frames (and so the offline raw set's), each clip
    handed over as a device array (a torch CUDA tensor where torch is installed)."""
    from fractalvid import ClipStream, build_config

    cfg = build_config("tiny", {"classes": "3", "train_per_class": "3", "shard_size": "5",
                                "color": "true"})
    cpu = {m["key"]: f for f, _, m in ClipStream(cfg, backend="cpu", frames=4, stride=2)}
    gpu = list(ClipStream(cfg, backend="gpu", frames=4, stride=2, batch=8, prefetch=2))
    assert sorted(m["key"] for _, _, m in gpu) == sorted(cpu)
    for frames, _, meta in gpu:
        if type(frames).__module__.startswith("torch"):
            assert frames.is_cuda
            frames = frames.cpu().numpy()
        assert np.array_equal(np.asarray(frames), cpu[meta["key"]])

"""The Python API: what the README shows, from scripts and notebooks, without a subprocess."""

import fractalvid
from fractalvid import build_config, generate, verify


def test_generate_and_verify_from_python(tmp_path):
    cfg = build_config("tiny", {"seed": 3, "classes": 2, "train_per_class": 2,
                                "val_per_class": 1, "resolution": 32})
    warnings = []
    result = generate(cfg, tmp_path / "t3", workers=1, warn=warnings.append)
    assert (result.made, result.skipped, result.done, result.total) == (2, 0, 2, 2)
    assert result.dataset["splits"]["train"]["clips"] == 4
    assert verify(tmp_path / "t3") == []
    again = generate(cfg, tmp_path / "t3", workers=1)
    assert (again.made, again.skipped) == (0, 2)


def test_the_package_offers_its_api_lazily():
    """``import fractalvid`` loads none of the heavy modules; a name loads its own module on
    first use and is that module's object."""
    import subprocess
    import sys

    code = ("import sys, fractalvid; heavy = ('numba', 'pyarrow', 'av', 'fractalvid.gen.chaos');"
            "print(any(m in sys.modules for m in heavy));"
            "r = fractalvid.ClipReader;"
            "import fractalvid.shards.reader as m; print(r is m.ClipReader);"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True", "False"]  # the reader needs no numba either
    assert set(fractalvid.__all__) >= {"build_config", "generate", "verify", "ClipReader",
                                       "ClipStream", "collate"}

"""The still-image PNG writer: its own Huffman-only deflate, read back by zlib and Pillow."""

import io
import zlib

import numpy as np
import PIL.Image
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fractalvid.shards.checksum import adler32, crc32
from fractalvid.shards.huffman import BLOCK, MAX_BITS, _code_lengths, zlib_huffman
from fractalvid.shards.png import encode_png


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3 * BLOCK))
def test_any_bytes_inflate_back_to_themselves(data):
    packed = zlib_huffman(np.frombuffer(data, np.uint8))
    assert zlib.decompress(packed) == data


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 255), st.integers(1, 2 * BLOCK + 5), st.integers(0, 2**32 - 1))
def test_skewed_bytes_inflate_back_and_shrink(alphabet, size, seed):
    # few distinct values, as in filtered rows: codes shorter than a byte
    rng = np.random.default_rng(seed)
    data = rng.geometric(0.3, size).clip(0, alphabet).astype(np.uint8)
    packed = zlib_huffman(data)
    assert zlib.decompress(packed) == data.tobytes()
    if size > 4096:
        assert len(packed) < 0.75 * size


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=70_000), st.integers(0, 2**32 - 1), st.integers(0, 65520),
       st.integers(0, 65520))
def test_the_checksums_are_zlibs(data, start, low, high):
    # zlib-ng's SIMD code where installed: the values PNG and zlib readers check, also
    # carried on from an earlier value (an Adler-32 state is two sums modulo 65521)
    assert crc32(data) == zlib.crc32(data)
    assert adler32(data) == zlib.adler32(data)
    assert crc32(data, start) == zlib.crc32(data, start)
    assert adler32(data, high << 16 | low) == zlib.adler32(data, high << 16 | low)
    buf = np.frombuffer(data, np.uint8)
    assert (crc32(buf), adler32(buf)) == (zlib.crc32(data), zlib.adler32(data))


def test_without_zlib_ng_the_checksums_are_the_standard_librarys(monkeypatch):
    import importlib
    import sys

    import fractalvid.shards.checksum as checksum

    monkeypatch.setitem(sys.modules, "zlib_ng", None)  # as where it has no wheel
    monkeypatch.setitem(sys.modules, "zlib_ng.zlib_ng", None)
    try:
        fallback = importlib.reload(checksum)
        assert (fallback.crc32, fallback.adler32) == (zlib.crc32, zlib.adler32)
    finally:
        monkeypatch.undo()
        importlib.reload(checksum)


def test_a_deep_tree_is_cut_to_fifteen_bits_and_still_inflates():
    # frequencies growing like Fibonacci's make a Huffman tree 29 levels deep
    counts = [1, 1]
    while len(counts) < 30:
        counts.append(counts[-1] + counts[-2])
    data = np.repeat(np.arange(30, dtype=np.uint8), counts)
    np.random.default_rng(0).shuffle(data)
    freq = np.zeros(257, np.int64)
    freq[:30] = counts
    freq[256] = 1
    lengths = np.zeros(257, np.int64)
    _code_lengths(freq, MAX_BITS, lengths)
    assert lengths.max() == MAX_BITS
    assert sum(2.0 ** -lengths[lengths > 0]) == 1.0  # a complete prefix code
    assert zlib.decompress(zlib_huffman(data)) == data.tobytes()


def test_the_bytes_depend_on_the_input_alone():
    data = np.random.default_rng(1).integers(0, 40, 100_000).astype(np.uint8)
    assert zlib_huffman(data) == zlib_huffman(data.copy())
    assert zlib_huffman(data) != zlib_huffman(data[::-1].copy())


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 70), st.integers(1, 70))),
       st.booleans())
def test_pillow_reads_the_image_that_was_written(grey, rgb):
    image = np.stack([grey, grey[::-1], 255 - grey], axis=-1) if rgb else grey
    back = np.asarray(PIL.Image.open(io.BytesIO(encode_png(image, fast=True))))
    np.testing.assert_array_equal(back, image)


def test_a_textured_still_is_about_as_small_as_zlibs_huffman_coding():
    y, x = np.mgrid[:224, :224]
    rng = np.random.default_rng(2)
    image = ((np.sin(x / 9.0) + np.cos(y / 13.0)) * 60 + 128 + rng.normal(0, 4, x.shape))
    image = np.stack([image, image * 0.8, 255 - image], -1).clip(0, 255).astype(np.uint8)
    rows = image.reshape(224, -1)
    filtered = np.concatenate([np.full((224, 1), 2, np.uint8),
                               np.vstack([rows[:1], rows[1:] - rows[:-1]])], axis=1)
    ours = zlib_huffman(filtered.reshape(-1))
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    theirs = packer.compress(filtered.tobytes()) + packer.flush()
    assert zlib.decompress(ours) == filtered.tobytes()
    assert len(ours) <= 1.02 * len(theirs)

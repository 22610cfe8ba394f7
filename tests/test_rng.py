"""Keyed random streams: numpy's SeedSequence hashing, done faster, and the same draws."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fractalvid.gen.rng import _PURPOSES, _purpose_code, _state, _words, seed64, stream

keys = st.integers(0, 2**64 + 5)  # past 64 bits: an int of three words


@settings(max_examples=300, deadline=None)
@given(st.lists(keys, min_size=1, max_size=7), st.integers(1, 9))
def test_the_state_is_seedsequences(ints, n):
    expected = np.random.SeedSequence(ints).generate_state(n, np.uint32)
    assert np.array_equal(_state(_words(*ints), n), expected)


@settings(max_examples=100, deadline=None)
@given(keys, st.sampled_from(_PURPOSES), keys, st.integers(0, 50))
def test_streams_and_seeds_are_those_numpy_makes_of_the_key(seed, purpose, key, attempt):
    entropy = [seed, _purpose_code(purpose), key, attempt]
    numpy_stream = np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))
    assert np.array_equal(stream(seed, purpose, key, attempt).random(6), numpy_stream.random(6))
    numpy_seed = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
    assert seed64(seed, purpose, key, attempt) == int(numpy_seed)


def test_every_part_of_the_key_changes_the_stream():
    base = stream(1, "class", 2, 0).random(4)
    for other in (stream(2, "class", 2, 0), stream(1, "instance", 2, 0),
                  stream(1, "class", 3, 0), stream(1, "class", 2, 1)):
        assert not np.array_equal(other.random(4), base)


def test_bad_keys_are_refused_in_one_line():
    with pytest.raises(ValueError, match="unknown random purpose 'nope'"):
        stream(1, "nope", 2)
    with pytest.raises(ValueError, match="must not be negative"):
        seed64(1, "class", -2)

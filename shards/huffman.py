"""A zlib stream of Huffman-coded literals (deflate with dynamic tables, no matches), in numba.

The PNG writer's stills are filtered rows, where matches buy little; coding literals alone is
what zlib's ``Z_HUFFMAN_ONLY`` does, at a few times its speed. The bytes are a pure function
of the input (integer arithmetic only, ties broken by symbol), so they do not depend on the
zlib a machine has. Any inflater reads them (RFC 1950 and 1951).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .checksum import adler32

BLOCK = 1 << 15  # input bytes a deflate block: each has its own tables
MAX_BITS = 15  # longest literal code deflate allows
MAX_CL_BITS = 7  # longest code of the code-length alphabet
END = 256  # end-of-block symbol
# the order in which a dynamic block lists its code-length code's lengths (RFC 1951, 3.2.7)
CL_ORDER = np.array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15],
                    np.int64)


def zlib_huffman(data: np.ndarray) -> bytes:
    """data [N] uint8 -> a zlib stream that inflates to it: header, deflate blocks of BLOCK
    bytes with dynamic Huffman tables of literals, the Adler-32 of ``data``."""
    data = np.ascontiguousarray(data, np.uint8).reshape(-1)
    out = np.empty(2 * data.shape[0] + 1024 * (data.shape[0] // BLOCK + 1), np.uint8)
    size = _deflate(data, CL_ORDER, out)
    return b"".join([b"\x78\x01", out[:size], adler32(data).to_bytes(4, "big")])


@nb.njit(cache=True, nogil=True)
def _code_lengths(freq, limit, lengths):  # pragma: no cover (numba)
    # Huffman code lengths of the symbols with freq > 0 (at least two), none above limit:
    # frequencies are halved (kept above zero) until the tree is shallow enough
    n = freq.shape[0]
    f = freq.copy()
    while True:
        used = np.nonzero(f)[0]
        m = used.shape[0]
        order = used[np.argsort(f[used] * n + used)]  # by frequency, ties by symbol
        weight = np.empty(2 * m - 1, np.int64)
        parent = np.zeros(2 * m - 1, np.int64)
        weight[:m] = f[order]
        leaf, node = 0, m  # two queues: leaves, then merged nodes (made in weight order)
        for k in range(m, 2 * m - 1):
            pair = np.empty(2, np.int64)
            for s in range(2):
                if leaf < m and (node >= k or weight[leaf] <= weight[node]):
                    pair[s] = leaf
                    leaf += 1
                else:
                    pair[s] = node
                    node += 1
            weight[k] = weight[pair[0]] + weight[pair[1]]
            parent[pair[0]] = k
            parent[pair[1]] = k
        depth = np.zeros(2 * m - 1, np.int64)
        for k in range(2 * m - 3, -1, -1):  # a parent comes after its children
            depth[k] = depth[parent[k]] + 1
        if depth[:m].max() <= limit:
            lengths[:] = 0
            for i in range(m):
                lengths[order[i]] = depth[i]
            return
        for i in range(n):
            if f[i] > 0:
                f[i] = (f[i] + 1) // 2


@nb.njit(cache=True, nogil=True)
def _codes(lengths, codes):  # pragma: no cover (numba)
    # canonical codes (RFC 1951, 3.2.2), bit-reversed: deflate sends a code's top bit first
    # into a stream packed from each byte's low bit
    count = np.zeros(MAX_BITS + 2, np.int64)
    for v in lengths:
        count[v] += 1
    count[0] = 0
    start = np.zeros(MAX_BITS + 2, np.int64)
    code = 0
    for bits in range(1, MAX_BITS + 1):
        code = (code + count[bits - 1]) << 1
        start[bits] = code
    for i in range(lengths.shape[0]):
        bits = lengths[i]
        if bits:
            c, r = start[bits], 0
            start[bits] += 1
            for _ in range(bits):
                r = (r << 1) | (c & 1)
                c >>= 1
            codes[i] = r


@nb.njit(cache=True, nogil=True)
def _run_lengths(seq, syms, extra):  # pragma: no cover (numba)
    # seq of code lengths -> code-length symbols (0-15 as is, 16 repeat the last 3-6 times,
    # 17 zeros 3-10 times, 18 zeros 11-138 times) and their extra bits' values; returns count
    n, k, i = seq.shape[0], 0, 0
    while i < n:
        v, run = seq[i], 1
        while i + run < n and seq[i + run] == v:
            run += 1
        i += run
        if v == 0:
            while run >= 11:
                step = min(run, 138)
                syms[k], extra[k], k, run = 18, step - 11, k + 1, run - step
            if run >= 3:
                syms[k], extra[k], k, run = 17, run - 3, k + 1, 0
        else:
            syms[k], extra[k], k, run = v, 0, k + 1, run - 1
            while run >= 3:
                step = min(run, 6)
                syms[k], extra[k], k, run = 16, step - 3, k + 1, run - step
        for _ in range(run):
            syms[k], extra[k], k = v, 0, k + 1
    return k


@nb.njit(cache=True, nogil=True)
def _deflate(data, cl_order, out):  # pragma: no cover (numba)
    # data [N] uint8 -> deflate blocks in out [..] uint8; returns the bytes written
    acc, nbits, pos = np.uint64(0), 0, 0
    n = data.shape[0]
    lengths = np.zeros(END + 1, np.int64)
    codes = np.zeros(END + 1, np.int64)
    seq = np.empty(END + 3, np.int64)
    syms = np.empty(END + 3, np.int64)
    extra = np.empty(END + 3, np.int64)
    cl_lengths = np.zeros(19, np.int64)
    cl_codes = np.zeros(19, np.int64)
    extra_bits = np.zeros(19, np.int64)
    extra_bits[16], extra_bits[17], extra_bits[18] = 2, 3, 7
    blocks = max(1, (n + BLOCK - 1) // BLOCK)
    for b in range(blocks):
        chunk = data[b * BLOCK: min(n, (b + 1) * BLOCK)]
        freq = _histogram(chunk)
        freq[END] = 1
        if chunk.shape[0] == 0:  # an empty input: its end code needs a tree of two
            freq[0] = 1
        _code_lengths(freq, MAX_BITS, lengths)
        codes[:] = 0
        _codes(lengths, codes)
        # the code lengths: 257 literal/end codes, then two distance codes of one bit (none
        # used; zlib sends the same, as some inflaters want a complete distance code)
        seq[:END + 1] = lengths
        seq[END + 1] = 1
        seq[END + 2] = 1
        k = _run_lengths(seq, syms, extra)
        cl_freq = np.zeros(19, np.int64)
        for i in range(k):
            cl_freq[syms[i]] += 1
        if np.count_nonzero(cl_freq) < 2:  # (a one-symbol code is not a tree)
            cl_freq[0 if syms[0] != 0 else 1] += 1
        _code_lengths(cl_freq, MAX_CL_BITS, cl_lengths)
        cl_codes[:] = 0
        _codes(cl_lengths, cl_codes)
        hclen = 19
        while hclen > 4 and cl_lengths[cl_order[hclen - 1]] == 0:
            hclen -= 1
        # header: last-block bit, type 2 (dynamic), HLIT = 257 - 257, HDIST = 2 - 1, HCLEN
        head = (1 if b == blocks - 1 else 0) | (2 << 1) | (0 << 3) | (1 << 8) | \
            ((hclen - 4) << 13)
        acc |= np.uint64(head) << np.uint64(nbits)
        nbits += 17
        for i in range(hclen):
            acc |= np.uint64(cl_lengths[cl_order[i]]) << np.uint64(nbits)
            nbits += 3
            if nbits >= 32:
                acc, nbits, pos = _flush(acc, nbits, pos, out)
        for i in range(k):
            s = syms[i]
            acc |= np.uint64(cl_codes[s]) << np.uint64(nbits)
            nbits += cl_lengths[s]
            acc |= np.uint64(extra[i]) << np.uint64(nbits)
            nbits += extra_bits[s]
            if nbits >= 32:
                acc, nbits, pos = _flush(acc, nbits, pos, out)
        acc, nbits, pos = _literals(chunk, codes.astype(np.uint64), lengths.astype(np.uint64),
                                    acc, np.uint64(nbits), pos, out)
        acc |= np.uint64(codes[END]) << np.uint64(nbits)
        nbits += lengths[END]
        acc, nbits, pos = _flush(acc, nbits, pos, out)
    while nbits > 0:  # the last byte, padded with zero bits
        out[pos] = np.uint8(acc & np.uint64(255))
        acc >>= np.uint64(8)
        nbits -= 8
        pos += 1
    return pos


@nb.njit(cache=True, inline="always")
def _flush(acc, nbits, pos, out):  # pragma: no cover (numba)
    # whole bytes of the accumulator out; fewer than 8 bits stay
    while nbits >= 8:
        out[pos] = np.uint8(acc & np.uint64(255))
        acc >>= np.uint64(8)
        nbits -= 8
        pos += 1
    return acc, nbits, pos


@nb.njit(cache=True, nogil=True)
def _literals(chunk, codes, lengths, acc, nbits, pos, out):  # pragma: no cover (numba)
    # the hot loop: two codes (30 bits at most) join the accumulator (under 32 bits) before
    # four whole bytes leave it
    n = chunk.shape[0]
    i = 0
    while i + 1 < n:
        a, b = chunk[i], chunk[i + 1]
        acc |= codes[a] << nbits
        nbits += lengths[a]
        acc |= codes[b] << nbits
        nbits += lengths[b]
        if nbits >= 32:
            out[pos] = np.uint8(acc & np.uint64(255))
            out[pos + 1] = np.uint8((acc >> np.uint64(8)) & np.uint64(255))
            out[pos + 2] = np.uint8((acc >> np.uint64(16)) & np.uint64(255))
            out[pos + 3] = np.uint8((acc >> np.uint64(24)) & np.uint64(255))
            acc >>= np.uint64(32)
            nbits -= np.uint64(32)
            pos += 4
        i += 2
    if i < n:
        acc |= codes[chunk[i]] << nbits
        nbits += lengths[chunk[i]]
    acc, left, pos = _flush(acc, np.int64(nbits), pos, out)
    return acc, left, pos


@nb.njit(cache=True, nogil=True)
def _histogram(chunk):  # pragma: no cover (numba)
    # [END + 1] int64 counts of the bytes; four tallies, so that runs of one value do not
    # wait on the same counter
    tally = np.zeros((4, END + 1), np.int64)
    n4 = chunk.shape[0] // 4 * 4
    for i in range(0, n4, 4):
        tally[0, chunk[i]] += 1
        tally[1, chunk[i + 1]] += 1
        tally[2, chunk[i + 2]] += 1
        tally[3, chunk[i + 3]] += 1
    for i in range(n4, chunk.shape[0]):
        tally[0, chunk[i]] += 1
    return tally[0] + tally[1] + tally[2] + tally[3]

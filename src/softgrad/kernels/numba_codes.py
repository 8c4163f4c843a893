"""Numba kernel: float rows of at most 256 distinct values as uint8 codes into a value table.

Pixels scaled by a scikit-learn user (``X / 255.0``, float64) hold at most 256 distinct values,
yet a float32 copy of Fashion-MNIST takes 188 MB and each batch gathers 4 bytes a value. Coded,
the set takes 47 MB and a batch is gathered through a 256-entry table
(``numba_gather.gather_rows_table``), bit for bit the rows of ``X.astype(dtype)``.

:func:`_encode_rows` (run by ``encode_chunks32`` and ``encode_chunks64``, by the table's
dtype, over chunks of rows) converts each value to that dtype first (as ``astype`` does) and
keys it by the bits of that value, so two values that convert to the same number share a code,
a code decodes to exactly the converted value, and ``-0.0`` keeps its own code (its bits differ
from ``0.0``'s). A value that is not finite once converted (NaN, +-inf, or a float64 beyond
float32's range) or a 257th distinct value stops the pass: the caller then keeps float rows,
whose own checks name a non-finite value. The keys live in an open-addressing table of 1,024
slots (at most a quarter full), hashed by a multiplication (Fibonacci hashing). A value found in
its first slot, nearly every one, takes one well-predicted branch: 60,000 x 784 float64 pixels
coded in 56-62 ms on one thread, where skipping the lookup for a value equal to the one before
it (runs of black pixels) took 111 ms (that branch mispredicts), and ``astype(np.float32)``
took 332-416 ms into fresh memory (38 ms into memory touched before).

The rows are coded in chunks, one a thread (:func:`encode_chunks32`), each with its own table;
merging the tables in chunk order and renumbering each chunk's codes (:func:`recode_chunks`)
gives exactly the codes of one pass over all the rows (a chunk's new values are appended in
the order it met them, which is the order one pass meets them), so the result does not depend
on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from softgrad.kernels.gather import MAX_CODES
from softgrad.kernels.numba_threads import parallel_kernel

__all__ = ["MAX_CODES", "encode_chunks32", "encode_chunks64", "recode_chunks"]

# the keys' hash table: a power of two, four times MAX_CODES so that probes stay short
_SLOTS = 1024
_SHIFT = np.uint64(64 - 10)  # the top 10 bits of the 64-bit product index the slots
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio, odd


@njit(inline="always")
def _encode_rows(x, codes, table, row, bits):
    """``codes[i, d]`` such that ``table[codes[i, d]] == x[i, d]`` converted to table's dtype,
    bit for bit; the codes in order of first appearance.

    Parameters
    ----------
    x : ndarray of shape (N, D)
        C-contiguous float32 or float64 rows.
    codes : ndarray of shape (N, D)
        C-contiguous uint8, written.
    table : ndarray of shape (MAX_CODES,)
        float32 or float64: the dtype the rows are read in; its first entries are written.
    row, bits : ndarray of shape (D,)
        Scratch: one row converted to table's dtype, and the same memory as unsigned integers
        of its width (the kernels below make them: a view's dtype must be a constant).

    Returns
    -------
    int
        The number of codes used (``table[:n]`` holds their values; 0 for an empty x), or -1
        when a converted value is not finite or x holds more than MAX_CODES distinct values
        (codes and table then hold a partial result).
    """
    keys = np.zeros(_SLOTS, bits.dtype)
    slot_codes = np.full(_SLOTS, -1, np.int32)
    used = 0
    for i in range(x.shape[0]):
        src, dst = x[i], codes[i]
        for d in range(row.size):
            row[d] = src[d]
        for d in range(row.size):
            key = bits[d]
            slot = (np.uint64(key) * _GOLDEN) >> _SHIFT
            code = slot_codes[slot]
            if code >= 0 and keys[slot] == key:  # a value met before, in its first slot
                dst[d] = code
                continue
            value = row[d]
            if not np.isfinite(value):
                return -1
            while True:  # a new value, or one that collided: probe the next slots
                code = slot_codes[slot]
                if code < 0:  # a new value: the next code
                    if used == MAX_CODES:
                        return -1
                    code = used
                    keys[slot], slot_codes[slot], table[code] = key, code, value
                    used += 1
                    break
                if keys[slot] == key:
                    break
                slot = (slot + np.uint64(1)) & np.uint64(_SLOTS - 1)
            dst[d] = code
    return used


@parallel_kernel  # x: the set decides the threads
def encode_chunks32(x, bounds, codes, tables, used):
    """:func:`_encode_rows` of the rows ``bounds[c]:bounds[c + 1]`` into float32
    ``tables[c]``, ``used[c]`` their count (or -1), one chunk a thread. Each chunk codes its
    values in order of first appearance within it; merging the chunks' tables in chunk order
    (``NumbaGatherKernels.encode_rows``) gives the codes of one pass over all rows, whatever
    the chunks."""
    for c in prange(bounds.size - 1):
        lo, hi = bounds[c], bounds[c + 1]
        row = np.empty(x.shape[1], np.float32)
        used[c] = _encode_rows(x[lo:hi], codes[lo:hi], tables[c], row, row.view(np.uint32))


@parallel_kernel
def encode_chunks64(x, bounds, codes, tables, used):
    """:func:`encode_chunks32` into float64 tables."""
    for c in prange(bounds.size - 1):
        lo, hi = bounds[c], bounds[c + 1]
        row = np.empty(x.shape[1], np.float64)
        used[c] = _encode_rows(x[lo:hi], codes[lo:hi], tables[c], row, row.view(np.uint64))


@parallel_kernel
def recode_chunks(codes, bounds, remaps):
    """``flat[k] = remaps[c, flat[k]]`` for ``k`` in ``bounds[c]:bounds[c + 1]``, ``flat``
    the codes (C-contiguous uint8, any shape) as one row: each chunk renumbered by its own
    map, one chunk a thread."""
    flat = codes.reshape(codes.size)
    for c in prange(bounds.size - 1):
        remap = remaps[c]
        for k in range(bounds[c], bounds[c + 1]):
            flat[k] = remap[flat[k]]

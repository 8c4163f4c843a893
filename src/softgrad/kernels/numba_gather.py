"""Numba kernel: the batch gather that scales stored (uint8) rows on the fly.

``out[i] = (X[idx[i]] - offset) * scale``, so that a
:class:`softgrad.preprocessing.Scaler` folds into the gather and an image set can stay in memory
as uint8 (a quarter of the bytes of float32 to read each step). Indices are clipped to
``[0, N - 1]``, as ``np.take(..., mode="clip")`` (the NumPy lane's gather) does, so a bad index
never reads outside ``X``. The plain gather (no scaling) is NumPy's ``np.take`` in both lanes:
a compiled row copy measured 65 us for 128 random rows of a 60,000 x 784 float32 set against
47 us for ``np.take``. On the calling thread the kernel first loads one byte of every cache
line the batch reads, then scales from cache (``gather_rows_scaled`` says why). Rows are scaled
on Numba's threads when the batch holds at least ``PARALLEL_MIN`` elements; each output element
is written once from one input element, so the result does not depend on the split.
"""

from __future__ import annotations

from numba import njit, prange

from softgrad.kernels.numba_threads import PARALLEL_MIN, kernel, parallel_kernel

__all__ = ["gather_csr_rows", "gather_rows_levels", "gather_rows_scaled", "gather_rows_table"]


@kernel
def gather_csr_rows(data, indices, indptr, idx, out):
    """``out[i] = row idx[i]`` of the CSR matrix (data, indices, indptr), densified: out zeroed,
    then each stored value added at its column (a column stored twice is summed, as SciPy's
    ``toarray``). On the calling thread: a batch's rows are a few thousand values. SciPy's
    ``x[idx].toarray(out=out)`` builds a CSR matrix of the batch first: 44.6 against 9.6 us for
    128 rows of 64 columns 94% full, 39.8 against 2.3 at 10% full.

    Parameters
    ----------
    data : ndarray of shape (nnz,), out's dtype
    indices : ndarray of int of shape (nnz,)
        Column of each value, each in ``[0, D)`` (trusted: checked once by the caller).
    indptr : ndarray of int of shape (N + 1,)
    idx : ndarray of int of shape (B,)
        Row numbers, each in ``[0, N)`` (trusted).
    out : ndarray of shape (B, D)
        C-contiguous.
    """
    out[:] = 0
    for i in range(idx.size):
        row = idx[i]
        dst = out[i]
        for p in range(indptr[row], indptr[row + 1]):
            dst[indices[p]] += data[p]


@parallel_kernel(size_arg=4)  # out: the batch decides the threads
def gather_rows_scaled(x, idx, offset, scale, out):
    """``out[i, d] = (x[clip(idx[i]), d] - offset[d]) * scale[d]``, in out's dtype.

    Parameters
    ----------
    x : ndarray of shape (N, D)
        C-contiguous rows of any real dtype (uint8 images, float32 features).
    idx : ndarray of int of shape (B,)
    offset, scale : ndarray of shape (D,), or both of shape (1,) (one value for every feature)
        out's dtype.
    out : ndarray of shape (B, D)
        C-contiguous float32 or float64.

    Returns
    -------
    int
        A count the caller ignores (it keeps the first pass's loads from being dropped).
    """
    n_rows = x.shape[0]
    touched = _touch_rows(x, idx, out)
    # on the threads from PARALLEL_MIN elements of out, else the calling-thread twin runs it
    # (parallel_kernel): one copy of the row routine to compile
    for i in prange(idx.shape[0]):
        _scaled_row(x, _clip(idx[i], n_rows), offset, scale, out, i)
    return touched


@parallel_kernel(size_arg=3)  # out: the batch decides the threads
def gather_rows_table(codes, idx, table, out):
    """``out[i, d] = table[codes[clip(idx[i]), d]]``: coded rows (``numba_codes``) decoded.
    ``codes`` uint8 (N, D), C-contiguous, each below ``table.size``; ``table`` (K,) of out's
    dtype; ``idx`` and ``out`` as in :func:`gather_rows_scaled`, as is the count returned."""
    n_rows = codes.shape[0]
    touched = _touch_rows(codes, idx, out)
    for i in prange(idx.shape[0]):
        src, dst = codes[_clip(idx[i], n_rows)], out[i]
        for d in range(dst.size):
            dst[d] = table[src[d]]
    return touched


@parallel_kernel(size_arg=4)  # out: the batch decides the threads
def gather_rows_levels(codes, idx, offset, divisor, out):
    """``out[i, d] = (codes[clip(idx[i]), d] - offset) / divisor`` in out's dtype (``offset``
    and ``divisor`` scalars of it): coded rows whose table is that grid (``CodedRows``),
    decoded by arithmetic; otherwise as :func:`gather_rows_table`. A lookup in a 256-entry
    table measured 47 us for 128 random rows of 784 codes into float32 (as slow as gathering
    float32 rows), this 20 us: the loop vectorises, a lookup per value does not."""
    n_rows = codes.shape[0]
    touched = _touch_rows(codes, idx, out)
    cast = out.dtype.type
    for i in prange(idx.shape[0]):
        src, dst = codes[_clip(idx[i], n_rows)], out[i]
        for d in range(dst.size):
            dst[d] = (cast(src[d]) - offset) / divisor
    return touched


@njit(inline="always")
def _touch_rows(x, idx, out):
    """Below PARALLEL_MIN elements of out, one load per cache line of every row the batch
    reads, first: the loads do not depend on each other, so the CPU keeps many misses in
    flight (random rows of a large set come from memory), and the pass that converts then
    reads from cache. 128 random rows of 60,000 x 784 uint8 into float32: 20 us against 31
    us without this pass. Returns a count (so that the loads are kept)."""
    touched = 0
    if out.size < PARALLEL_MIN:
        for i in range(idx.shape[0]):
            touched += _touch_row(x, _clip(idx[i], x.shape[0]))
    return touched


@njit(inline="always")
def _touch_row(x, row):
    """One load per 64 bytes of ``x[row]`` (a sum, so that the loads are kept)."""
    src = x[row]
    step = max(1, 64 // src.itemsize)
    total = 0
    for d in range(0, src.size, step):
        total += src[d] != 0
    return total


@njit(inline="always")
def _clip(i, n_rows):
    return min(max(i, 0), n_rows - 1)


@njit(inline="always")
def _scaled_row(x, row, offset, scale, out, i):
    # each value is converted to out's dtype first, as astype(out.dtype) would, in a local:
    # storing it into out and reading it back (what this loop did) kept LLVM from vectorising
    # it (128 random rows of 784 uint8 into float32: 72 us -> see the module docstring)
    cast = out.dtype.type
    src = x[row]
    dst = out[i]
    if scale.size == 1:
        o, s = offset[0], scale[0]
        for d in range(dst.size):
            dst[d] = (cast(src[d]) - o) * s
    else:
        for d in range(dst.size):
            dst[d] = (cast(src[d]) - offset[d]) * scale[d]

"""The kernels' layout: an array seen as (M, C) rows with the softmax/class axis last.

The row kernels (normalisation, cross-entropy, the softmax products) work on C-contiguous
(M, C) rows. An array already laid out that way is viewed without a copy; any other axis or
layout is copied into rows, and results computed in rows are copied back.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "COLUMN_BLOCK",
    "PAIRWISE_MIN",
    "SCRATCH_VALUES",
    "as_rows",
    "column_sums",
    "put_rows",
    "row_blocks",
    "row_dots",
    "row_sums",
    "row_view",
]

# Rows of at most this many entries are summed by einsum, whose SIMD running sums are as exact as
# NumPy's own sum over so few (it adds up to 128 entries in 8 running sums) and 1.3-2.6x faster;
# a longer row is summed pairwise (np.add.reduce along the row), whose error grows as log C, not
# C: einsum's running sums lost 7,995 ulps of a float32 logsumexp over 3e7 entries (5 ulps at 1e4).
PAIRWISE_MIN = 128

# A column sum over the batch (a bias gradient) is one BLAS GEMV ``ones @ g`` over up to this many
# rows (every training batch softgrad's benchmarks run); a taller batch is summed PAIRWISE_MIN
# rows at a time into float64: one GEMV over 1e6 rows lost 9.6e-3 of a float32 bias gradient of
# equal entries (1e-5 over 1,024), against 6e-8 for NumPy's pairwise sum and 5.6e-7 for torch's.
COLUMN_BLOCK = 1024

# The most entries a reduction of rows to one value each (logsumexp, a cross-entropy without
# its gradient) exponentiates at a time: 8 MB of float64. A scratch copy of the whole input
# doubled the memory of a call that returns one value a row (80 MB for 80 KB of output).
SCRATCH_VALUES = 2**20


def row_blocks(n_rows: int, n_cols: int, dtype: Any) -> Iterator[tuple[slice, np.ndarray]]:
    """The rows of an (n_rows, n_cols) array in blocks of at most :data:`SCRATCH_VALUES`
    entries, whole groups of 64 rows (at least one group, so that a row kernel groups a
    block's rows as it groups the whole array's), each with a scratch of its shape in
    ``dtype``: views of one buffer, the size of the first block."""
    step = min(n_rows, max(64, SCRATCH_VALUES // max(n_cols, 1) // 64 * 64))
    scratch = np.empty((step, n_cols), dtype=dtype)
    for start in range(0, n_rows, max(step, 1)):
        rows = slice(start, min(start + step, n_rows))
        yield rows, scratch[: rows.stop - start]


# per-row dot products without an (M, C) temporary: np.vecdot (NumPy >= 2), else a stacked
# (1, C) @ (C, 1) matmul
_VECDOT = getattr(np, "vecdot", None)


def row_view(a: np.ndarray, axis: int) -> np.ndarray | None:
    """``a`` seen as (M, C) rows without a copy, or None when its layout does not allow it."""
    if axis % a.ndim != a.ndim - 1 or not a.flags.c_contiguous:
        return None
    return a if a.ndim == 2 else _as_matrix(a)


def as_rows(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` as C-contiguous (M, C) rows with ``axis`` last: a view when possible, else a copy."""
    view = row_view(a, axis)
    if view is not None:
        return view
    ax = axis % a.ndim
    return _as_matrix(np.ascontiguousarray(np.moveaxis(a, ax, -1)))


def _as_matrix(a: np.ndarray) -> np.ndarray:
    """C-contiguous ``a`` as (M, C) rows along its last axis, a view: the row count spelled
    out, as -1 is ambiguous for an empty last axis (``reshape(-1, 0)`` of (2, 3, 0) raised)."""
    n_rows = a.size // a.shape[-1] if a.shape[-1] else math.prod(a.shape[:-1])
    return a.reshape(n_rows, a.shape[-1])  # a reshape costs 0.3 us


def put_rows(r2: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Copy (M, C) rows back into ``out``'s layout (the axis moved from last to ``axis``)."""
    ax = axis % out.ndim
    shape = out.shape[:ax] + out.shape[ax + 1 :] + (out.shape[ax],)
    np.copyto(out, np.moveaxis(r2.reshape(shape), -1, ax))
    return out


def row_sums(a: np.ndarray) -> np.ndarray:
    """The sum of each row of (M, C) ``a``, shape (M,), in a's dtype, to the accuracy of NumPy's
    pairwise sum (:data:`PAIRWISE_MIN`)."""
    if a.shape[1] <= PAIRWISE_MIN:
        return np.einsum("ij->i", a)
    with np.errstate(over="ignore", under="ignore"):  # an inf sum, as einsum gives it
        return np.add.reduce(a, axis=1)


def row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b, axis=1)`` of (M, C) rows, shape (M,): without a temporary for short rows,
    pairwise over a product for long ones (a dot product's running sums lost digits as
    einsum's do: 6.3e-4 of a float32 log-softmax VJP over two rows of 1e6)."""
    if a.shape[1] > PAIRWISE_MIN:
        # the products of a block of rows at a time (a * b of the whole input doubled the
        # memory of log_softmax_jvp); each row's pairwise sum is the same
        out = np.empty(a.shape[0], dtype=np.result_type(a, b))
        for rows, products in row_blocks(a.shape[0], a.shape[1], out.dtype):
            out[rows] = np.add.reduce(np.multiply(a[rows], b[rows], out=products), axis=1)
        return out
    if _VECDOT is not None:
        return _VECDOT(a, b)
    return np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0]


def column_sums(g: np.ndarray, ones: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = sum(g, axis=0)`` of (M, H) rows, by ``ones`` (M ones of g's dtype) through BLAS:
    one GEMV up to :data:`COLUMN_BLOCK` rows, else :data:`PAIRWISE_MIN` rows at a time summed
    in float64."""
    rows = g.shape[0]
    if rows <= COLUMN_BLOCK:
        return np.matmul(ones, g, out=out)
    total = np.zeros(g.shape[1], np.float64)
    for start in range(0, rows, PAIRWISE_MIN):
        block = g[start : start + PAIRWISE_MIN]
        total += np.matmul(ones[: block.shape[0]], block)
    np.copyto(out, total, casting="same_kind")
    return out

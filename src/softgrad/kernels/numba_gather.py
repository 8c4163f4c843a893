"""Numba kernel: the batch gather that scales stored (uint8) rows on the fly.

``out[i] = (X[idx[i]] - offset) * scale``, so that a
:class:`softgrad.preprocessing.Scaler` folds into the gather and an image set can stay in memory
as uint8 (a quarter of the bytes of float32 to read each step). Indices are clipped to
``[0, N - 1]``, as ``np.take(..., mode="clip")`` (the NumPy lane's gather) does, so a bad index
never reads outside ``X``. The plain gather (no scaling) is NumPy's ``np.take`` in both lanes:
a compiled row copy measured 65 us for 128 random rows of a 60,000 x 784 float32 set against
47 us for ``np.take``. Rows are copied on Numba's threads when the batch holds at least
``PARALLEL_MIN`` elements; each output element is written once from one input element, so the
result does not depend on the split.
"""

from __future__ import annotations

from numba import njit, prange

from softgrad.kernels.numba_threads import parallel_kernel
from softgrad.kernels.numba_updates import PARALLEL_MIN

__all__ = ["gather_rows_scaled"]


@parallel_kernel
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
    """
    n_rows = x.shape[0]
    if out.size < PARALLEL_MIN:
        for i in range(idx.shape[0]):
            _scaled_row(x, _clip(idx[i], n_rows), offset, scale, out, i)
    else:
        for i in prange(idx.shape[0]):
            _scaled_row(x, _clip(idx[i], n_rows), offset, scale, out, i)


@njit(inline="always")
def _clip(i, n_rows):
    return min(max(i, 0), n_rows - 1)


@njit(inline="always")
def _scaled_row(x, row, offset, scale, out, i):
    # each value is converted to out's dtype first (the store), as astype(out.dtype) would
    if scale.size == 1:
        o, s = offset[0], scale[0]
        for d in range(out.shape[1]):
            out[i, d] = x[row, d]
            out[i, d] = (out[i, d] - o) * s
    else:
        for d in range(out.shape[1]):
            out[i, d] = x[row, d]
            out[i, d] = (out[i, d] - offset[d]) * scale[d]

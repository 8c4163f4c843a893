"""The finite test every check and inference's product check share: whether an array holds
no NaN and no infinity, in one pass and no temporary the size of the array."""

from __future__ import annotations

import numpy as np

__all__ = ["all_finite"]

# the dtypes whose dot product runs in the BLAS (float16's runs in a slow NumPy loop)
_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def all_finite(x: np.ndarray) -> bool:
    """Whether every entry of the array ``x`` is finite (integer arrays always are): the one
    pass behind :func:`softgrad.checks.check_finite_rows`, which names the row when it is not.

    For a C-contiguous float32 or float64 array, the BLAS's sum of squares (NaN or inf exactly
    when an entry is, or when the squares overflow, which then takes the next test); else one
    ``min`` and one ``max`` (they propagate NaN and expose +-inf).

    Example
    -------
    >>> all_finite(np.array([[0.0, 1e30], [2.0, 3.0]], dtype=np.float32)), all_finite(np.array([np.inf]))
    (True, False)
    """  # noqa: E501
    if x.dtype.kind != "f" or x.size == 0:
        return True
    if x.flags.c_contiguous and x.dtype in _BLAS_DTYPES:
        flat = x.reshape(-1)
        with np.errstate(over="ignore"):  # a finite overflow is not the caller's to hear of
            total = np.dot(flat, flat)
        if np.isfinite(total):
            return True
    return bool(np.isfinite(x.min()) and np.isfinite(x.max()))

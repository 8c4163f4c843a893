"""The kernels' layout: an array seen as (M, C) rows with the softmax/class axis last.

The row kernels (normalisation, cross-entropy, the softmax products) work on C-contiguous
(M, C) rows. An array already laid out that way is viewed without a copy; any other axis or
layout is copied into rows, and results computed in rows are copied back.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_rows", "put_rows", "row_view"]


def row_view(a: np.ndarray, axis: int) -> np.ndarray | None:
    """``a`` seen as (M, C) rows without a copy, or None when its layout does not allow it."""
    if axis % a.ndim != a.ndim - 1 or not a.flags.c_contiguous:
        return None
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])  # a reshape costs 0.3 us


def as_rows(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` as C-contiguous (M, C) rows with ``axis`` last: a view when possible, else a copy."""
    view = row_view(a, axis)
    if view is not None:
        return view
    ax = axis % a.ndim
    return np.ascontiguousarray(np.moveaxis(a, ax, -1)).reshape(-1, a.shape[ax])


def put_rows(r2: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Copy (M, C) rows back into ``out``'s layout (the axis moved from last to ``axis``)."""
    ax = axis % out.ndim
    shape = out.shape[:ax] + out.shape[ax + 1 :] + (out.shape[ax],)
    np.copyto(out, np.moveaxis(r2.reshape(shape), -1, ax))
    return out

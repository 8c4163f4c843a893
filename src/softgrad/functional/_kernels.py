"""Private softmax kernels: validated, compute-dtype arrays in, results written into a buffer.

These trust their inputs (the public functions validate). Two strategies:

- the shifted kernels (``shifted_softmax``, ``shifted_log_softmax``): the textbook-safe
  max, subtract, exp, sum, scale on any axis, with the ``where``/+inf/NaN rules;
- ``softmax_into`` / ``log_softmax_into`` dispatch the common case (no mask, softmax over the
  last, contiguous axis) to the row-blocked fast path in ``_rows.py``, which falls back to the
  shifted kernels block by block whenever its checks fail.
"""

from __future__ import annotations

import numpy as np

from ._rows import rows_fast_path, rows_logsumexp

__all__ = [
    "log_softmax_into",
    "logsumexp_kernel",
    "row_logsumexp",
    "shifted_log_softmax",
    "shifted_softmax",
    "slice_sum",
    "softmax_into",
]


def slice_sum(a: np.ndarray, axis: int, where: np.ndarray | bool = True) -> np.ndarray:
    """Sum along ``axis`` with keepdims, accumulated in float64 and returned in a's dtype.

    NumPy sums pairwise only along the contiguous last axis; along any other axis it adds one
    slice at a time, so a float32 sum of 10000 terms drifts by ~1e-5 relative. Accumulating in
    float64 keeps every axis as accurate as the last one.
    """
    acc = np.float64 if a.dtype.itemsize < 8 else a.dtype
    return np.sum(a, axis=axis, keepdims=True, dtype=acc, where=where).astype(a.dtype, copy=False)


def _slice_max(x: np.ndarray, axis: int, mask: np.ndarray | None) -> np.ndarray:
    # the shift: the max over the entries that take part (masked ones do not)
    if mask is None:
        return np.max(x, axis=axis, keepdims=True)
    return np.max(x, axis=axis, keepdims=True, where=mask, initial=-np.inf)


def _posinf_hits(x: np.ndarray, m: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
    # slices whose max is +inf: the limit gives the +inf entries equal shares, the rest 0
    posinf = np.isposinf(m)
    if not posinf.any():
        return None
    hits = x == np.inf
    if mask is not None:
        hits &= mask
    return hits & posinf


def softmax_into(
    x: np.ndarray, axis: int, mask: np.ndarray | None, buf: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """Write ``scale * softmax(x)`` along ``axis`` into ``buf`` (may be ``x`` itself)."""
    if x.size == 0:
        return buf
    if mask is None and rows_fast_path(
        x, axis, buf, scale, False, lambda xb, bb: shifted_softmax(xb, 1, None, bb, scale)
    ):
        return buf
    return shifted_softmax(x, axis, mask, buf, scale)


def log_softmax_into(
    x: np.ndarray, axis: int, mask: np.ndarray | None, buf: np.ndarray
) -> np.ndarray:
    """Write ``log_softmax(x)`` along ``axis`` into ``buf`` (may be ``x`` itself)."""
    if x.size == 0:
        return buf
    if mask is None and rows_fast_path(
        x, axis, buf, 1.0, True, lambda xb, bb: shifted_log_softmax(xb, 1, None, bb)
    ):
        return buf
    return shifted_log_softmax(x, axis, mask, buf)


def shifted_softmax(
    x: np.ndarray, axis: int, mask: np.ndarray | None, buf: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """``scale * softmax(x)`` shifted by the slice max; every edge case of the Notes."""
    m = _slice_max(x, axis, mask)
    hits = _posinf_hits(x, m, mask)
    # inf - inf (a +inf max) and huge - (-huge) are resolved below; silence their flags
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(x, m, out=buf)
        np.exp(buf, out=buf)
    if mask is not None:
        np.copyto(buf, 0.0, where=~mask)
    if hits is not None:
        np.copyto(buf, hits, where=np.broadcast_to(np.isposinf(m), buf.shape))
    total = slice_sum(buf, axis)
    if mask is not None:
        # a slice with no selected entry sums to 0: leave its zeros as they are
        total[total == 0] = 1.0
    if scale != 1.0:
        np.divide(scale, total, out=total)
        np.multiply(buf, total, out=buf)
    else:
        np.divide(buf, total, out=buf)
    return buf


def shifted_log_softmax(
    x: np.ndarray, axis: int, mask: np.ndarray | None, buf: np.ndarray
) -> np.ndarray:
    """``log_softmax(x)`` shifted by the slice max; every edge case of the Notes."""
    m = _slice_max(x, axis, mask)
    hits = _posinf_hits(x, m, mask)
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(x, m, out=buf)
        e = np.exp(buf)
    if mask is not None:
        np.copyto(e, 0.0, where=~mask)
    if hits is not None:
        posinf = np.broadcast_to(np.isposinf(m), buf.shape)
        np.copyto(e, hits, where=posinf)
        np.copyto(buf, np.where(hits, 0.0, -np.inf), where=posinf)
    total = slice_sum(e, axis)
    if mask is not None:
        total[total == 0] = 1.0
    np.log(total, out=total)
    np.subtract(buf, total, out=buf)
    if mask is not None:
        np.copyto(buf, -np.inf, where=~mask)
    return buf


def logsumexp_kernel(x: np.ndarray, axis: int, mask: np.ndarray | None) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis`` with keepdims; -inf for empty or all -inf slices."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf, where=True if mask is None else mask)
    # a non-finite max cannot be a shift: +inf, -inf and NaN come out of the sum on their own
    shift = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.subtract(x, shift)
        np.exp(e, out=e)
    if mask is not None:
        np.copyto(e, 0.0, where=~mask)
    total = slice_sum(e, axis)
    with np.errstate(divide="ignore"):
        np.log(total, out=total)
    np.add(total, shift, out=total)
    return total


def row_logsumexp(x2: np.ndarray) -> np.ndarray:
    """logsumexp of each row of an (M, C) array, shape (M,): blocked when C-contiguous."""
    if x2.flags.c_contiguous and x2.size:
        return rows_logsumexp(x2, lambda xb: logsumexp_kernel(xb, 1, None)[:, 0])
    return logsumexp_kernel(x2, 1, None)[:, 0]

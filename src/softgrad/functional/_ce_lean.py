"""The lean lane of :func:`cross_entropy` and :func:`cross_entropy_grad`: the training step's
call, (N, C) C-contiguous float32/64 logits and (N,) integer targets with the default options,
computed without the general validation and layout machinery.

Each function returns None whenever its call is anything else (or, for the loss, when a loss is
not finite); the caller then takes the general path, which validates and computes (or raises).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._checks import to_output, to_scalar
from ._kernels import row_logsumexp, softmax_into
from ._targets import subtract_at_targets, target_offsets

__all__ = ["is_plain_rows_call", "plain_rows_grad", "plain_rows_loss"]

_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def plain_rows_loss(logits, target, axis, reduction, eps) -> Any:
    """The training step's call, (N, C) logits and (N,) indices with default options: loss_n =
    lse_n - logits[n, y_n] without the general machinery; None when anything differs (or a loss
    is not finite), and the general path then validates and computes (or raises)."""
    if not is_plain_rows_call(logits, target, axis, reduction, eps):
        return None
    n_rows, n = logits.shape
    t = target.astype(np.intp, copy=False)
    if t.view(np.uintp).max() >= n:  # negative indices are huge as unsigned
        return None
    per_row = row_logsumexp(logits).astype(np.float64)
    # overflow: only an unrepresentable loss, inf; invalid: inf - inf of a +inf row, whose NaN
    # total sends the call to the general path
    with np.errstate(over="ignore", invalid="ignore"):
        per_row -= logits.reshape(-1)[target_offsets(n_rows, n, t)]
        total = float(per_row.sum())
    if not math.isfinite(total):
        return None  # a non-finite row: the general path applies log_softmax's limits
    if reduction == "none":
        return to_output(per_row, logits.dtype)
    return to_scalar(total / n_rows if reduction == "mean" else total, logits.dtype)


def is_plain_rows_call(logits, target, axis, reduction, eps) -> bool:
    # (N, C) C-contiguous float32/64 logits, (N,) integer targets, class axis last, no smoothing
    return (
        type(logits) is np.ndarray
        and type(target) is np.ndarray
        and logits.ndim == 2
        and target.ndim == 1
        and (axis == -1 or axis == 1)
        and type(axis) is int
        and eps == 0.0
        and reduction in ("mean", "sum", "none")
        and logits.dtype in _FAST_DTYPES
        and target.dtype.kind in "iu"
        and logits.flags.c_contiguous
        and 0 < target.shape[0] == logits.shape[0]
    )


def plain_rows_grad(logits, target, axis, reduction, eps, out) -> np.ndarray | None:
    """The training step's call, (N, C) logits and (N,) indices with default options, without
    the general machinery (a quarter of the time at (128, 10)); None when anything differs,
    and the general path then validates and computes (or raises)."""
    if not is_plain_rows_call(logits, target, axis, reduction, eps):
        return None
    n_rows, n = logits.shape
    t = target.astype(np.intp, copy=False)
    if t.view(np.uintp).max() >= n:  # negative indices are huge as unsigned
        return None
    if out is None:
        buf = np.empty_like(logits)
    elif type(out) is np.ndarray and out.dtype == logits.dtype and out.shape == logits.shape:
        if not (out.flags.c_contiguous and out.flags.writeable):
            return None
        buf = out
    else:
        return None
    scale = 1.0 / n_rows if reduction == "mean" else 1.0
    softmax_into(logits, 1, None, buf, scale=scale)
    subtract_at_targets(buf, t, scale)
    return buf

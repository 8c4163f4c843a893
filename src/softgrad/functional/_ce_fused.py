"""The training step's cross-entropy: loss and gradient from ONE exponential pass.

Used by :class:`softgrad.nn.CrossEntropyLoss`, which caches what forward computes for backward:
:func:`cross_entropy` and :func:`cross_entropy_grad` are separate calls, so each would compute
``exp(logits)`` and its row sums (twice per step) and validate the arguments both times. For
the call every training step makes -- (N, C) C-contiguous float32/float64 logits, (N,) class
indices, no weight, ignore_index or label smoothing, reduction "mean" or "sum" -- the forward
here keeps ``e = exp(logits)`` and its row sums ``S`` and the backward reuses them. The call
check and the target offsets are the lean lane's (softgrad.functional._ce_lean), shared.
The arithmetic is the functional fast path's, operation for operation, so the loss and the
gradient are bit-identical to ``functional.cross_entropy`` / ``functional.cross_entropy_grad``
(pinned by the tests)::

    loss_n  = log(S_n) - logits[n, y_n]          (float64 accumulation)
    grad    = r * e / S - r * onehot(y),  r = 1/N ("mean") or 1 ("sum")

Like the functional fast path it skips the max shift, which is exact whenever every row sum
lies in [1, inf) (see softgrad.functional._rows). When that check fails (huge or very negative
logits, NaN/inf), or the call is not the plain case, ``fused_forward`` returns None and the
layer takes the general path.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._ce_lean import is_plain_rows_call


class FusedCache(NamedTuple):
    """What the backward pass reuses: e = exp(logits), its row sums, the target offsets."""

    e: np.ndarray  # (N, C)
    total: np.ndarray  # (N, 1), row sums of e
    offsets: np.ndarray  # (N,) flat offsets n * C + y_n
    mean: bool  # reduction "mean" (else "sum")


def is_plain_call(logits: np.ndarray, target: np.ndarray, axis: int, reduction: str) -> bool:
    """True for (N, C) C-contiguous float32/64 logits, (N,) int targets, class axis last,
    reduction "mean" or "sum": the lean lane's call (see softgrad.functional._ce_lean)."""
    return reduction in ("mean", "sum") and is_plain_rows_call(logits, target, axis, reduction, 0.0)


class Scratch:
    """Buffers a caller keeps between calls of one shape: exp(logits), the row starts n * C
    and the target offsets (a training step then allocates none of them)."""

    def __init__(self, logits: np.ndarray) -> None:
        n_rows, n_classes = logits.shape
        self.shape, self.dtype = logits.shape, logits.dtype
        self.e = np.empty_like(logits)
        self.row_starts = np.arange(0, n_rows * n_classes, n_classes)
        self.offsets = np.empty(n_rows, dtype=np.intp)
        self.largest = float(np.finfo(logits.dtype).max)

    def fits(self, logits: np.ndarray) -> bool:
        return self.shape == logits.shape and self.dtype == logits.dtype


def fused_forward(
    logits: np.ndarray, target: np.ndarray, reduction: str, scratch: Scratch
) -> tuple[float, FusedCache] | None:
    """(loss, cache) of a plain call (see :func:`is_plain_call`), or None for the general path.

    Parameters
    ----------
    logits : ndarray of shape (N, C)
    target : ndarray of int of shape (N,)
    reduction : {"mean", "sum"}
    scratch : Scratch
        Buffers for this shape; ``scratch.e`` and ``scratch.offsets`` are kept in the cache
        (do not reuse them before backward).
    """
    n_rows, n_classes = logits.shape
    t = target.astype(np.intp, copy=False)
    if t.view(np.uintp).max() >= n_classes:  # negative indices are huge as unsigned
        return None
    e = scratch.e
    with np.errstate(over="ignore"):  # an overflow fails the check below
        np.exp(logits, out=e)
    total = np.einsum("ij->i", e)
    if not (total.min() >= 1.0 and total.max() < np.inf):  # NaN fails both
        return None
    offsets = np.add(scratch.row_starts, t, out=scratch.offsets)
    per_row = np.log(total).astype(np.float64)
    per_row -= logits.reshape(-1)[offsets]
    loss = float(per_row.sum())
    if not math.isfinite(loss):
        return None
    mean = reduction == "mean"
    value = loss / n_rows if mean else loss
    if -scratch.largest <= value <= scratch.largest:
        value = float(logits.dtype.type(value))  # cannot overflow: no errstate needed
    else:
        with np.errstate(over="ignore"):  # as functional: an unrepresentable loss rounds to inf
            value = float(logits.dtype.type(value))
    return value, FusedCache(e, total.reshape(-1, 1), offsets, mean)


def fused_backward(cache: FusedCache) -> np.ndarray:
    """dL/dlogits = r * (e / S - onehot(y)) as a fresh (N, C) array."""
    e, total, offsets, mean = cache
    scale = 1.0 / e.shape[0] if mean else 1.0
    # the same two branches as functional's softmax_into(scale=...): bit-identical results
    if scale != 1.0:
        grad = np.multiply(e, np.divide(scale, total))
    else:
        grad = np.divide(e, total)
    grad.reshape(-1)[offsets] -= scale
    return grad

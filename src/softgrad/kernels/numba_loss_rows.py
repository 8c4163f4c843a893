"""Numba kernels: the seam's per-row softmax-cross-entropy pair, per-row losses and what the
gradient needs in one pass (:func:`softmax_cross_entropy_rows`), then the gradient
(:func:`softmax_cross_entropy_rows_grad`).

The formulas, the shift and the edge cases are those of :mod:`softgrad.kernels.numba_losses`
(r the caller's r_n), whose row routines these kernels call. The seam is the caller: this pair
is NumbaOps' ``softmax_cross_entropy`` and ``softmax_cross_entropy_grad`` (the functional and
the layers' loss: per-row losses, and a cache kept between forward and backward), where
numba_losses is the training step's one pass to a mean, its gradient and a count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from softgrad.kernels.numba_exp_rows import (
    LONG_ROW,
    SOFTMAX_BLOCK,
    _exp_block,
    _exp_block_shifted,
)
from softgrad.kernels.numba_losses import _block_loss, _long_row_loss
from softgrad.kernels.numba_threads import kernel

__all__ = ["softmax_cross_entropy_rows", "softmax_cross_entropy_rows_grad"]


@kernel
def softmax_cross_entropy_rows(logits, target, e, total, loss, offsets):
    """Per-row losses, and what the gradient needs, in one pass (the seam's per-row API).

    Parameters
    ----------
    logits : ndarray of shape (N, C)
        C-contiguous float32 or float64.
    target : ndarray of int of shape (N,)
        Class indices, checked (the pass stops at the first one outside [0, C)).
    e : ndarray of shape (N, C)
        Written with exp(logits - m_n) (m_n = 0 in a block kept unshifted, numba_losses),
        logits' dtype; not ``logits``.
    total : ndarray of shape (N,)
        Written with the row sums of e (rounded to the logits' dtype).
    loss : ndarray of float64 of shape (N,)
        Written with log(S_n) - (logits[n, y_n] - m_n), numba_losses' edge cases.
    offsets : ndarray of intp of shape (N,)
        Written with the flat offsets n * C + y_n of the targets (the NumPy lane's cache).

    Returns
    -------
    bool
        False when a target is out of range (then nothing is meaningful).

    Notes
    -----
    The limits of numba_losses hold for ``e / total``: a +inf row gets e = 1 at its
    +inf entries and 0 elsewhere (total k), a NaN or all -inf row NaN throughout.
    """
    if not _targets_in_range(target, logits.shape[1]):
        return False
    n_classes = logits.shape[1]
    n_rows = logits.shape[0]
    if n_classes >= LONG_ROW:
        # long rows one at a time, their exps straight into their row of e (softmax_long_rows'
        # structure: F.cross_entropy_grad at 64 x 10,000 float32 ran this kernel in 436 us by
        # blocks, twice F.softmax's time), the shift decided per row; the same sums
        for n in range(n_rows):
            loss[n], total[n] = _long_row_loss(logits[n], target[n], e[n])
            offsets[n] = n * n_classes + target[n]
        return True
    rows = max(1, SOFTMAX_BLOCK // n_classes)  # the blocks of softmax_cross_entropy
    sums = np.empty(rows)
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        block = e[start:stop].reshape(-1)
        direct = _exp_block(logits, start, stop, block, sums)
        # a block that needs the shift: each row's maximum, one per entry (for a direct block
        # the exps stand in, and _block_loss passes them over)
        shift = block if direct else _exp_block_shifted(logits, start, stop, block, sums)
        for n in range(start, stop):
            r = n - start
            y = target[n]
            loss[n] = _block_loss(direct, sums[r], e[n, y], logits[n, y], shift[r * n_classes])
            total[n] = sums[r]
            offsets[n] = n * n_classes + y
    return True


@njit(inline="always")
def _targets_in_range(target, n_classes):
    for n in range(target.size):
        if target[n] < 0 or target[n] >= n_classes:
            return False
    return True


@kernel
def softmax_cross_entropy_rows_grad(e, total, offsets, scale, out):
    """``out = r_n * (e / S - onehot(y))`` in one pass; ``out`` may be ``e``.

    Parameters
    ----------
    e : ndarray of shape (N, C)
    total : ndarray of shape (N,)
        Row sums of e (from :func:`softmax_cross_entropy_rows`).
    offsets : ndarray of int of shape (N,)
        Flat offsets n * C + y_n of the targets (from :func:`softmax_cross_entropy_rows`).
    scale : ndarray of shape (N,) or (1,)
        r_n per row, or one r for every row; e's dtype.
    out : ndarray of shape (N, C)
    """
    per_row = scale.size > 1
    n_classes = e.shape[1]
    for n in range(e.shape[0]):
        r = scale[n] if per_row else scale[0]
        factor = r / total[n]
        for c in range(n_classes):
            out[n, c] = e[n, c] * factor
        y = offsets[n] - n * n_classes
        out[n, y] = out[n, y] - r

"""Numba kernel: softmax-cross-entropy loss, gradient and correct predictions in one pass.

For each row n of the logits, with target y_n, weight w_n (1 without weights; 0, and no hit,
for a row whose target is the ignored index) and the scale r (1/sum(w) for the mean, which
:func:`softmax_cross_entropy` computes; the caller's r_n for the per-row pair)::

    m_n    = max_c logits[n, c]                   (the shift: exp never overflows)
    S_n    = sum_c exp(logits[n, c] - m_n)         (accumulated in float64)
    loss   = r * sum_n w_n * (log(S_n) - (logits[n, y_n] - m_n))
    grad   = r * w_n * (exp(logits - m_n) / S_n - onehot(y_n))
    correct = sum_n w_n * [argmax_c logits[n, c] == y_n]

Edge cases are those of :func:`softgrad.functional.cross_entropy` and ``np.argmax``: -inf
logits take no mass; the k +inf logits of a row share its mass (loss log(k) when the target is
one of them, inf otherwise); a row holding NaN, or only -inf, has a NaN loss and a NaN gradient
row and no other row is touched; a row whose loss lies beyond the dtype's range (logits
spanning more than it, e.g. [3e38, -3e38] in float32) has an infinite loss; argmax takes the
first maximum, and a NaN is the maximum.
An empty batch (N = 0) gives a loss of 0.

Rows are independent and the loss and the count are summed over the rows in order, so the
result is bit-identical run to run. At the training step's shapes (128 x 10) the whole pass is
a few microseconds: it stays on the calling thread.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["softmax_cross_entropy"]


@njit(cache=True, error_model="numpy")
def softmax_cross_entropy(logits, target, weight, ignore, use_ignore, grad):
    """Mean loss, gradient and the (weighted) count of correct argmax predictions, one pass.

    Parameters
    ----------
    logits : ndarray of shape (N, C)
        C-contiguous float32 or float64.
    target : ndarray of int of shape (N,)
        Class indices; checked here, before anything is written (a row whose target is
        ``ignore`` is not checked).
    weight : ndarray of shape (N,) or (0,)
        Per-sample weights (float64); an empty array weighs every sample 1.
    ignore : int
        With ``use_ignore``, the target value of rows that count in nothing: no loss, no
        weight, no hit, a zero gradient row.
    use_ignore : bool
    grad : ndarray of shape (N, C)
        Written with dL/dlogits in logits' dtype; may be ``logits`` itself (in place).

    Returns
    -------
    loss : float
        r * sum_n w_n * loss_n with r = 1 / sum_n w_n (the rows not ignored, summed in order),
        in float64 (the caller rounds it to the logits' dtype). A total weight of 0 (an empty
        batch, every row ignored or weighing 0) gives 0 and a zero gradient.
    correct : float
        sum_n w_n over the rows whose argmax is the target; -1.0 when a target is out of
        range (then nothing is written and the caller takes the NumPy lane, which raises).
    """
    n_rows, n_classes = logits.shape
    weight_sum = 0.0
    for n in range(n_rows):
        if use_ignore and target[n] == ignore:
            continue
        if target[n] < 0 or target[n] >= n_classes:
            return 0.0, -1.0
        weight_sum += weight[n] if weight.size else 1.0
    if not weight_sum > 0:
        grad[...] = 0
        return 0.0, 0.0
    scale = 1.0 / weight_sum
    total = 0.0
    correct = 0.0
    for n in range(n_rows):
        if use_ignore and target[n] == ignore:
            grad[n] = 0
            continue
        w = weight[n] if weight.size else 1.0
        row_loss, hit = _row(logits[n], target[n], w * scale, grad[n])
        total += w * row_loss
        if hit:
            correct += w
    return total * scale, correct


@njit(inline="always")
def _row(x, y, rw, g):
    """(loss, argmax == y) of one row; writes rw * (softmax(x) - onehot(y)) into g (may be x)."""
    arg = _argmax(x)  # before g (which may be x) is written
    row_loss, mass = _exp_row(x, y, g, x[arg])
    hit = arg == y
    factor = g.dtype.type(rw / mass)  # NaN for a NaN row, whose g is NaN already
    for c in range(x.size):
        g[c] = g[c] * factor
    g[y] = g[y] - g.dtype.type(rw)
    return row_loss, hit


@njit(inline="always")
def _argmax(x):
    """np.argmax of one row: the first maximum, and a NaN is the maximum (the first NaN).

    Branch-free selects: with random logits the comparison is unpredictable, and a branch on
    it cost more than the rest of the row's work. Once m is NaN nothing replaces it."""
    m = x[0]
    arg = 0
    for c in range(1, x.size):
        v = x[c]
        take = (v > m) | ((v != v) & (m == m))
        arg = c if take else arg
        m = v if take else m
    return arg


@njit(cache=True, error_model="numpy")
def softmax_cross_entropy_rows(logits, target, e, total, loss, offsets):
    """Per-row losses, and what the gradient needs, in one pass (the seam's per-row API).

    Parameters
    ----------
    logits : ndarray of shape (N, C)
        C-contiguous float32 or float64.
    target : ndarray of int of shape (N,)
        Class indices, checked (the pass stops at the first one outside [0, C)).
    e : ndarray of shape (N, C)
        Written with exp(logits - m_n), logits' dtype; not ``logits``.
    total : ndarray of shape (N,)
        Written with the row sums of e (rounded to the logits' dtype).
    loss : ndarray of float64 of shape (N,)
        Written with log(S_n) - (logits[n, y_n] - m_n), the module's edge cases.
    offsets : ndarray of intp of shape (N,)
        Written with the flat offsets n * C + y_n of the targets (the NumPy lane's cache).

    Returns
    -------
    bool
        False when a target is out of range (then nothing is meaningful).

    Notes
    -----
    The limits of the module docstring hold for ``e / total``: a +inf row gets e = 1 at its
    +inf entries and 0 elsewhere (total k), a NaN or all -inf row NaN throughout.
    """
    if not _targets_in_range(target, logits.shape[1]):
        return False
    n_classes = logits.shape[1]
    for n in range(logits.shape[0]):
        row = logits[n]
        loss[n], total[n] = _exp_row(row, target[n], e[n], row[_argmax(row)])
        offsets[n] = n * n_classes + target[n]
    return True


@njit(inline="always")
def _targets_in_range(target, n_classes):
    for n in range(target.size):
        if target[n] < 0 or target[n] >= n_classes:
            return False
    return True


@njit(inline="always")
def _exp_row(x, y, e, m):
    """(loss, S) of one row whose maximum (np.max's: NaN if any) is ``m``; writes exp(x - m)
    (or the +inf limit's 0/1) into e (may be x: each entry is read before it is written, the
    target's first). The caller's argmax gives m, so a row is scanned for it once."""
    x_y = x[y]
    if m != m or m == -np.inf:
        for c in range(x.size):
            e[c] = np.nan
        return np.nan, e.dtype.type(np.nan)
    if m == np.inf:
        k = 0
        for c in range(x.size):
            hit = x[c] == np.inf
            e[c] = 1 if hit else 0
            k += hit
        return (math.log(k) if x_y == np.inf else np.inf), e.dtype.type(k)
    mass = 0.0
    for c in range(x.size):
        v = e.dtype.type(np.exp(x[c] - m))  # kept in a local: e may be x, so a reload of
        e[c] = v  # e[c] could not be skipped
        mass += v
    # (x_y - m) in the logits' dtype, as the NumPy lane: log(S) keeps its precision beside a
    # large shift, and a loss beyond the dtype's range overflows to inf as it does there
    return math.log(mass) - np.float64(x_y - m), e.dtype.type(mass)


@njit(cache=True, error_model="numpy")
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

"""Numba kernel: softmax-cross-entropy loss, gradient and correct predictions in one pass.

For each row n of the logits, with target y_n, weight w_n (1 without weights) and the
reduction's scale r (1/N for a mean, 1/sum(w) for a weighted mean, 1 for a sum)::

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


@njit(cache=True)
def softmax_cross_entropy(logits, target, weight, scale, grad):
    """Loss, gradient and the (weighted) count of correct argmax predictions, one pass.

    Parameters
    ----------
    logits : ndarray of shape (N, C)
        C-contiguous float32 or float64.
    target : ndarray of int of shape (N,)
        Class indices; checked here (the pass stops at the first one outside [0, C)).
    weight : ndarray of shape (N,) or (0,)
        Per-sample weights (float64); an empty array weighs every sample 1.
    scale : float
        The reduction's factor r (see the module docstring).
    grad : ndarray of shape (N, C)
        Written with dL/dlogits in logits' dtype; may be ``logits`` itself (in place).

    Returns
    -------
    loss : float
        r * sum_n w_n * loss_n, in float64 (the caller rounds it to the logits' dtype).
    correct : float
        sum_n w_n over the rows whose argmax is the target; -1.0 when a target is out of
        range (then nothing is meaningful and the caller takes the NumPy lane, which raises).
    """
    n_rows, n_classes = logits.shape
    for n in range(n_rows):
        if target[n] < 0 or target[n] >= n_classes:
            return 0.0, -1.0
    total = 0.0
    correct = 0.0
    for n in range(n_rows):
        w = weight[n] if weight.size else 1.0
        row_loss, hit = _row(logits[n], target[n], w * scale, grad[n])
        total += w * row_loss
        if hit:
            correct += w
    return total * scale, correct


@njit(inline="always")
def _row(x, y, rw, g):
    """(loss, argmax == y) of one row; writes rw * (softmax(x) - onehot(y)) into g."""
    n_classes = x.size
    x_y = x[y]  # read before g (which may be x) is written
    m = x[0]
    arg = 0
    for c in range(1, n_classes):
        if m != m:  # a NaN is the maximum (np.argmax): the first one wins
            break
        if x[c] > m or x[c] != x[c]:
            m = x[c]
            arg = c
    if m != m or m == -np.inf:
        # NaN in the row, or no finite mass (all -inf): the whole row is NaN, as in NumPy
        for c in range(n_classes):
            g[c] = np.nan
        return np.nan, arg == y
    if m == np.inf:
        return _posinf_row(x, y, rw, g), arg == y
    mass = 0.0
    for c in range(n_classes):
        e = np.exp(x[c] - m)
        g[c] = e
        mass += e
    factor = g.dtype.type(rw / mass)
    for c in range(n_classes):
        g[c] = g[c] * factor
    g[y] = g[y] - g.dtype.type(rw)
    # (x_y - m) in the logits' dtype, as the NumPy lane: log(S) keeps its precision beside a
    # large shift, and a loss beyond the dtype's range overflows to inf as it does there
    return math.log(mass) - np.float64(x_y - m), arg == y


@njit(inline="always")
def _posinf_row(x, y, rw, g):
    """The +inf limit: the k +inf entries share the mass; loss log(k) at one, else inf."""
    k = 0
    for c in range(x.size):
        if x[c] == np.inf:
            k += 1
    target_is_inf = x[y] == np.inf  # before g (which may be x) is written
    share = g.dtype.type(rw / k)
    for c in range(x.size):
        g[c] = share if x[c] == np.inf else 0
    g[y] = g[y] - g.dtype.type(rw)
    return math.log(k) if target_is_inf else np.inf

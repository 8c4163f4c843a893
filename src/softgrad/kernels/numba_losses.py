"""Numba kernels: the training step's softmax-cross-entropy, its (weighted) mean loss, gradient
and correct predictions in one pass (:func:`softmax_cross_entropy`, and
:func:`softmax_cross_entropy_long_rows` for long rows), and the row routines that the seam's
per-row pair (:mod:`softgrad.kernels.numba_loss_rows`) takes from them.

For each row n of the logits, with target y_n, weight w_n (1 without weights; 0, and no hit,
for a row whose target is the ignored index) and the scale r (1/sum(w) for the mean, which
:func:`softmax_cross_entropy` computes; the caller's r_n for the per-row pair)::

    m_n    = max_c logits[n, c], or 0 (below)     (the shift: exp never overflows)
    S_n    = sum_c exp(logits[n, c] - m_n)         (accumulated in float64)
    loss   = r * sum_n w_n * (log(S_n) - (logits[n, y_n] - m_n))
             (unshifted: log1p((S_n - e_y) / e_y), e_y = exp(logits[n, y_n]): numba_exp_rows)
    grad   = r * w_n * (exp(logits - m_n) / S_n - onehot(y_n))
    correct = sum_n w_n * [argmax_c logits[n, c] == y_n]

The exps are taken as the softmax kernels take them (:mod:`softgrad.kernels.numba_exp_rows`):
by blocks of rows, unshifted (m_n = 0) where every row sum of the block keeps them and each
row shifted by its maximum otherwise; rows of ``LONG_ROW`` or more into another array one at
a time. The softmax kernels themselves are :mod:`softgrad.kernels.numba_softmax`: the two
families share how a row is normalised, and differ in what they return (here a loss, its
gradient and a count, summed over the rows; there each row's probabilities).

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

from softgrad.kernels.numba_exp_rows import (
    SOFTMAX_BLOCK,
    _add_compensated,
    _argmax,
    _exp_block,
    _exp_block_shifted,
    _exp_shifted,
    _exps_into,
    _keeps_unshifted,
    _ratio_loss,
    _row_max,
)
from softgrad.kernels.numba_threads import kernel

__all__ = [
    "softmax_cross_entropy",
    "softmax_cross_entropy_long_rows",
]


@kernel
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
    scale = _mean_scale(target, weight, ignore, use_ignore, grad)
    if not scale > 0:  # -1: a target out of range, nothing written; 0: no weight, grad 0
        return 0.0, scale
    total = 0.0
    lost = 0.0
    correct = 0.0
    # blocks of rows as softmax_rows takes them: flat unshifted exps where every row sum of
    # the block keeps them (_keeps_unshifted), each row shifted by its maximum otherwise
    rows = max(1, SOFTMAX_BLOCK // n_classes)
    e = np.empty(rows * n_classes, dtype=logits.dtype)
    sums = np.empty(rows)
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        direct = _exp_block(logits, start, stop, e, sums)
        # a block that needs the shift: each row's maximum, one per entry (for a direct block
        # e stands in, and _block_loss passes its entries over)
        shift = e if direct else _exp_block_shifted(logits, start, stop, e, sums)
        for n in range(start, stop):
            if use_ignore and target[n] == ignore:
                grad[n] = 0
                continue
            w = weight[n] if weight.size else 1.0
            r = n - start
            row_loss, hit = _block_row(
                logits[n],
                target[n],
                w * scale,
                e,
                r,
                sums[r],
                direct,
                shift[r * n_classes],
                grad[n],
            )
            if w != 0:  # a sample of weight 0 takes no part, whatever its loss (inf * 0 = NaN)
                total, lost = _add_loss(total, lost, w * row_loss, logits)
            if hit:
                correct += w
    return (total + lost) * scale, correct


@kernel
def softmax_cross_entropy_long_rows(logits, target, weight, ignore, use_ignore, grad, top):
    """:func:`softmax_cross_entropy` for rows of ``LONG_ROW`` or more into a ``grad`` that is
    not ``logits``, one row at a time: each row's exps written straight into its row of grad,
    summed and scaled there (softmax_long_rows' structure), the shift decided per row. The
    same arguments, results and limits; the loss is summed over the rows in order.

    ``top`` (int array of shape (N,)) is ``np.argmax(logits, axis=1)``, which the caller
    computes for the hits: NumPy's vectorised argmax, the row's first maximum or first NaN as
    :func:`_argmax`'s, took 8 us over 128 rows of 1,000 float32 where ``_argmax``'s scalar
    loop took 70-80 us, most of this kernel's time at such rows. ``grad`` does not overlap
    ``logits``: a shifted row (rare) reads x after its first exps were written."""
    scale = _mean_scale(target, weight, ignore, use_ignore, grad)
    if not scale > 0:  # -1: a target out of range, nothing written; 0: no weight, grad 0
        return 0.0, scale
    total = 0.0
    lost = 0.0
    correct = 0.0
    for n in range(logits.shape[0]):
        if use_ignore and target[n] == ignore:
            grad[n] = 0
            continue
        w = weight[n] if weight.size else 1.0
        row_loss, mass = _long_row_loss(logits[n], target[n], grad[n])
        _grad_from_exps(grad[n], target[n], w * scale, mass)
        if w != 0:  # as in softmax_cross_entropy
            total, lost = _add_loss(total, lost, w * row_loss, logits)
        if top[n] == target[n]:
            correct += w
    return (total + lost) * scale, correct


@njit(inline="always")
def _add_loss(total, lost, term, logits):
    """``total + term``, the running sum of the row losses: for float64 logits with Neumaier's
    compensation (a running sum of a million float64 row losses put the mean 228 roundings off
    ``forward``'s pairwise one), for float32's in plain float64 (far within float32's
    rounding; the training step's sum as it was). ``logits``' dtype is a constant here."""
    if logits.itemsize == 8:
        return _add_compensated(total, lost, term)
    return total + term, lost


# called once per kernel call (both cross-entropy kernels' prologue)
@njit(error_model="numpy")
def _mean_scale(target, weight, ignore, use_ignore, grad):
    """1 / sum_n w_n over the rows (w_n = 1 without weights; rows whose target is ``ignore``,
    with ``use_ignore``, left out and not checked); -1.0 when a target is outside [0, C),
    with nothing written, and 0.0 when the weights sum to 0, with ``grad`` zeroed."""
    weight_sum = 0.0
    lost = 0.0
    for n in range(target.size):
        if use_ignore and target[n] == ignore:
            continue
        if target[n] < 0 or target[n] >= grad.shape[1]:
            return -1.0
        # compensated for float64, as the loss (:func:`_add_loss`: 15-39 roundings of the
        # weighted mean at 100,000 rows were this sum's)
        weight_sum, lost = _add_loss(weight_sum, lost, weight[n] if weight.size else 1.0, grad)
    weight_sum += lost
    if not weight_sum > 0:
        grad[...] = 0
        return 0.0
    return 1.0 / weight_sum


@njit(inline="always")
def _block_row(x, y, rw, e, r, mass, direct, m, g):
    """(loss, argmax == y) of row ``r`` of a block; writes rw * (softmax(x) - onehot(y)) into
    g (may be x). Row r of ``e`` holds exp(x) and ``mass`` its sum, which keeps them
    (``direct``: :func:`_keeps_unshifted`), or exp(x - m) and its sum, m the row's maximum
    (:func:`_shifted_loss`). Reads x (argmax, x[y]) before g is written."""
    arg = _argmax(x)
    offset = r * x.size
    row_loss = _block_loss(direct, mass, e[offset + y], x[y], m)
    factor = g.dtype.type(rw / mass)  # NaN for a NaN row, whose e is NaN
    for c in range(x.size):
        g[c] = e[offset + c] * factor
    g[y] = g[y] - g.dtype.type(rw)
    return row_loss, arg == y


@njit(inline="always")
def _grad_from_exps(g, y, rw, mass):
    """``g = rw * (g / mass - onehot(y))`` over a row of exps ``g`` that sum to ``mass``:
    the row's gradient, weighted. NaN throughout for a NaN row, whose g is NaN already."""
    factor = g.dtype.type(rw / mass)
    for c in range(g.size):
        g[c] = g[c] * factor
    g[y] = g[y] - g.dtype.type(rw)


@njit(inline="always")
def _long_row_loss(x, y, e):
    """(loss, S) of one long row (``LONG_ROW``), its exps written straight into ``e`` (a row of
    another array): unshifted where their sum keeps them (:func:`_keeps_unshifted`), else
    shifted by the row's maximum (:func:`_exp_row`, rare). Both per-row kernels of long rows
    take it: :func:`softmax_cross_entropy_long_rows` and numba_loss_rows'
    :func:`~softgrad.kernels.numba_loss_rows.softmax_cross_entropy_rows`."""
    mass = _exps_into(x, e)
    if _keeps_unshifted(mass):
        return _ratio_loss(mass, e[y], x[y]), mass
    row_loss, shifted = _exp_row(x, y, e, _row_max(x))
    return row_loss, np.float64(shifted)


@njit(inline="always")
def _exp_row(x, y, e, m):
    """(loss, S) of one row whose maximum (np.max's: NaN if any) is ``m``; writes exp(x - m)
    (or the +inf limit's 0/1) into e (may be x: each entry is read before it is written, the
    target's first). The caller's argmax gives m, so a row is scanned for it once."""
    x_y = x[y]
    mass = _exp_shifted(x, e, m)
    return _shifted_loss(mass, x_y, m), e.dtype.type(mass)


@njit(inline="always")
def _block_loss(direct, mass, e_y, x_y, m):
    """The cross-entropy of a row of a block, from the sum of its exps: kept unshifted
    (``direct``: :func:`_ratio_loss`, log(S) - x_y having gone below 0), or shifted by the
    row's maximum m (:func:`_shifted_loss`; ``e_y`` not read). Both kernels of blocks (the
    fused step's and the per-row pair's) take their rows' losses here."""
    if direct:
        return _ratio_loss(mass, e_y, x_y)
    return _shifted_loss(mass, x_y, m)


@njit(inline="always")
def _shifted_loss(mass, x_y, m):
    """The cross-entropy of a row shifted by its maximum m, from the sum of its exps and its
    target's logit: log(S) - (x_y - m); NaN for a NaN or all -inf row (whose S is NaN); for
    a row holding +inf, log(k) where the target is one of its k +inf entries, else inf."""
    if m != m or m == -np.inf:
        return np.nan
    if m == np.inf:
        return math.log(mass) if x_y == np.inf else np.inf
    # (x_y - m) in the logits' dtype, as the NumPy lane: log(S) keeps its precision beside a
    # large shift, and a loss beyond the dtype's range overflows to inf as it does there
    return math.log(mass) - np.float64(x_y - m)

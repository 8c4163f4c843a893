"""NumPy kernels: softmax-cross-entropy loss and gradient, on (N, C) rows of logits.

With e = exp(logits - shift) and S = sum_c e_c from the one normalisation routine
(:meth:`~softgrad.kernels.softmax.SoftmaxKernels.exp_rows`), so that lse = shift + log(S) and
s = e / S, the loss of a row against a target distribution t is sum_c t_c * (lse - logits_c)::

    class index y:        loss_n = lse_n - logits[n, y_n]
                          grad_n = r_n * (s_n - onehot(y_n))
    distribution t (N, C): loss_n = lse_n * sum_c t[n, c] - sum_c t[n, c] * logits[n, c]
                          grad_n = r_n * (s_n * sum_c t[n, c] - t_n)

r_n is the caller's scale (1 / N for a mean, w_n / sum(w) for a weighted mean). The forward
keeps ``e`` and ``S``: the gradient is then one pass over e, with no second exp. Every option of
:func:`softgrad.functional.cross_entropy` (class weights, ignore_index, label smoothing,
probability targets, any axis) is one of these two target kinds with per-row scales.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from softgrad.kernels.softmax import log_correction, ratio_loss


def weighted_total(weights: np.ndarray, losses: np.ndarray) -> float:
    """``sum_n w_n l_n`` over per-sample ``losses`` of the ``weights``' shape, a sample of
    weight 0 taking no part whatever its loss: its gradient is 0, and its inf loss (a -inf
    logit at its target) made the whole loss NaN (0 * inf), with NumPy's "invalid value"
    warning on one lane and not the other. As an ignored target's row does. The products are
    summed pairwise in float64 (``weighted_sum``): a BLAS dot's order is the CPU's, and
    OpenBLAS's Prescott kernel put a float64 mean over 100,000 rows 10 roundings off.

    Example
    -------
    >>> weighted_total(np.array([0.0, 2.0]), np.array([np.inf, 1.5]))
    3.0
    """
    weights, losses = weights.reshape(-1), losses.reshape(-1)
    return weighted_sum(weights, np.where(weights != 0, losses, 0))


def weighted_sum(weights: np.ndarray, values: np.ndarray) -> float:
    """``sum_n w_n v_n`` of two 1-D arrays, the products in float64 summed pairwise (NumPy's
    sum: a few roundings of the result on any CPU, where a dot is the BLAS kernel's).

    Example
    -------
    >>> weighted_sum(np.array([0.5, 2.0], np.float32), np.array([4.0, 1.5]))
    5.0
    """
    return float(np.sum(np.multiply(weights, values, dtype=np.float64)))


class SoftmaxCE(NamedTuple):
    """What the gradient needs, kept by :meth:`LossKernels.softmax_cross_entropy`."""

    e: np.ndarray  # (N, C) exp(logits - shift)
    total: np.ndarray  # (N, 1) row sums of e
    target: np.ndarray  # (N,) flat offsets n * C + y_n of the targets, or (N, C) distributions


def _offsets(n_classes: int, target: np.ndarray) -> np.ndarray:
    # flat offsets n * C + y_n of the target entries of C-contiguous (N, C) rows: a flat
    # index is 1.7x faster than [np.arange(N), y] here
    idx = np.arange(0, target.shape[0] * n_classes, n_classes)
    idx += target
    return idx


def _picked(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    # sum_c t[n, c] * logits[n, c] (in float64 for distributions): logits[n, y_n] for flat
    # target offsets, which the float64 loss takes without a cast
    if target.ndim == 1:
        return logits.reshape(-1)[target]
    with np.errstate(invalid="ignore"):
        picked = np.einsum("ij,ij->i", logits, target, dtype=np.float64)
    return _zero_targets_take_nothing(picked, logits, target)


def _unshifted_loss(
    logits: np.ndarray, target: np.ndarray, e: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """The losses of rows whose exps ``e`` were kept unshifted (row sums ``total``, (N, 1);
    ``target`` flat offsets or distributions), in float64."""
    if target.ndim == 1:
        # the loss as a ratio of the unshifted exps (kernels.softmax.ratio_loss): log(S) - x_y
        # went below 0 for a confident row
        e_y = e.reshape(-1)[target]
        return ratio_loss(total[:, 0], e_y, lambda: _picked(logits, target))
    return _distribution_loss(logits, target, total[:, 0])  # distributions


def _distribution_loss(logits: np.ndarray, target: np.ndarray, total: np.ndarray) -> np.ndarray:
    """sum_c t_c * (log(S) - x_c) of rows of unshifted exps summing to ``total`` (N,), in
    float64, at least 0 in a row whose targets all are (as the exact loss is). A target of 0
    takes nothing.

    float64 rows take each difference before its product, log(S) with its Newton step
    (kernels.softmax.log_correction): log(S) * sum(t) - sum(t * x) cancelled where log(S) is
    large, 70 roundings of the loss with label smoothing near logits of 32 (torch: 0.4). A
    float32 row keeps that formula, one pass fewer: its sums are float64, far within float32's
    rounding, whose exps' rounding through S is the error (it put a confident row's loss, with
    class weights 4, at -6e-7: hence the bound)."""
    log_total = np.log(total, dtype=np.float64)
    if logits.dtype == np.float64:
        # log(S) = log_total + its Newton step, which log_total alone would round away
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, NaN: the row's NaN
            gaps = np.subtract(log_total[:, None], logits)
            loss = np.einsum("ij,ij->i", gaps, target)
        loss = _zero_targets_take_nothing(loss, gaps, target)
        loss += log_correction(total, log_total) * np.sum(target, axis=1)
    else:
        loss = log_total * np.sum(target, axis=1, dtype=np.float64)
        loss -= _picked(logits, target)
    # each t_c * (log(S) - x_c) is at least 0 exactly: a row below 0 whose targets are all at
    # least 0 gets 0 (rows with a negative target, which torch takes, keep their losses; a
    # test of the whole call's targets let one such row unclamp all the others)
    below = np.flatnonzero(loss < 0)
    if below.size:
        below = below[target[below].min(axis=1) >= 0]  # a NaN target: not clamped
        loss[below] = 0.0
    return loss


def _zero_targets_take_nothing(picked, values, target) -> np.ndarray:
    # a class the target gives 0 adds nothing, whatever its value: 0 * -inf (a masked logit,
    # or a log-probability of 0) is NaN in the einsum, so the NaN rows (rare) are summed again
    # without those entries. A NaN value where the target is not 0 stays NaN.
    bad = np.isnan(picked)
    if bad.any():
        t = target[bad]
        with np.errstate(invalid="ignore"):
            terms = values[bad].astype(np.float64) * t
        picked[bad] = np.where(t != 0, terms, 0.0).sum(axis=1)
    return picked


class LossKernels:
    """NumpyOps mixin: softmax-cross-entropy loss and gradient."""

    if TYPE_CHECKING:  # SoftmaxKernels' routines, which NumpyOps mixes in beside these

        def exp_rows(
            self, x: np.ndarray, e: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]: ...

        def log_softmax(
            self,
            x: np.ndarray,
            axis: int = -1,
            where: np.ndarray | None = None,
            out: np.ndarray | None = None,
        ) -> np.ndarray: ...

    def softmax_cross_entropy(
        self, logits: np.ndarray, target: np.ndarray, e: np.ndarray
    ) -> tuple[np.ndarray, SoftmaxCE]:
        """Per-row losses, keeping in ``e`` and the returned row sums what the gradient needs.

        Parameters
        ----------
        logits : ndarray of shape (N, C), C-contiguous float32/64, N * C > 0
        target : ndarray of intp of shape (N,) in [0, C), or of logits' dtype of shape (N, C)
            Class indices, or target distributions (rows need not sum to 1: weights fold in).
        e : ndarray of shape (N, C), logits' dtype; receives exp(logits - shift). Not ``logits``.

        Returns
        -------
        loss : ndarray of float64 of shape (N,)
            Accumulated in float64. NaN for a row holding NaN (or all -inf); for k +inf logits
            the limit: log(k) for a target among them, inf otherwise.
        cache : SoftmaxCE
            ``e``, its row sums and the targets as flat offsets, for
            :meth:`softmax_cross_entropy_grad`.
        """
        total, shift, rows = self.exp_rows(logits, e)
        classes = target
        if target.ndim == 1:
            target = _offsets(logits.shape[1], target)
        if shift is not None and rows is None:
            loss = self._shifted_loss(logits, target, total, shift)
            return loss, SoftmaxCE(e, total, target)
        if rows is None:
            return _unshifted_loss(logits, target, e, total), SoftmaxCE(e, total, target)
        # every row as an unshifted one; the shifted rows (whose exps are no unshifted ones:
        # their results, which may warn, are written again below) apart
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            loss = _unshifted_loss(logits, target, e, total)
        assert shift is not None  # the shifted rows' maxima
        picked = _offsets(logits.shape[1], classes[rows]) if target.ndim == 1 else target[rows]
        loss[rows] = self._shifted_loss(logits[rows], picked, total[rows], shift)
        return loss, SoftmaxCE(e, total, target)

    def _shifted_loss(
        self, logits: np.ndarray, target: np.ndarray, total: np.ndarray, shift: np.ndarray
    ) -> np.ndarray:
        """The losses of rows whose exps were shifted by their maximum (``total`` and
        ``shift`` of shape (N, 1); ``target`` flat offsets into these rows, or distributions),
        in float64: shift + log(S) - x_y, with the limits of rows holding +inf."""
        loss = np.log(total[:, 0], dtype=np.float64)
        if target.ndim == 2:
            loss *= np.sum(target, axis=1, dtype=np.float64)
        if np.isposinf(shift).any():
            return self._posinf_rows_loss(logits, target)
        # (logits - shift) first, so log(S) keeps its precision beside a large shift; -inf -
        # -inf gives an all -inf row its NaN, and a loss beyond the dtype overflows
        with np.errstate(invalid="ignore", over="ignore"):
            loss -= _picked(logits - shift, target)
        return loss

    def _posinf_rows_loss(self, logits: np.ndarray, target: np.ndarray) -> np.ndarray:
        # rows with +inf logits (rare): -logp from log_softmax's limits, for every row
        logp = self.log_softmax(logits).astype(np.float64)
        if target.ndim == 1:
            return -logp.reshape(-1)[target]
        with np.errstate(invalid="ignore"):
            picked = np.einsum("ij,ij->i", logp, target)
        return -_zero_targets_take_nothing(picked, logp, target)

    def softmax_cross_entropy_grad(
        self, cache: SoftmaxCE, scale: float | np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """dL/dlogits = r * (e / S - onehot(y)), or r * (e / S * sum(t) - t), into ``out``.

        Parameters
        ----------
        cache : SoftmaxCE
            What :meth:`softmax_cross_entropy` kept.
        scale : float, or ndarray of shape (N, 1) (per-row r_n)
        out : ndarray of shape (N, C), C-contiguous, e's dtype; fresh if None. May be ``e``.
        """
        e, total, target = cache
        out = np.empty_like(e) if out is None else out
        per_row = not isinstance(scale, float)
        if target.ndim == 1:
            np.multiply(e, np.divide(scale, total), out=out)
            out.reshape(-1)[target] -= scale if isinstance(scale, float) else scale[:, 0]
        else:
            coef = np.sum(target, axis=1, keepdims=True, dtype=e.dtype)
            coef *= scale
            coef /= total
            np.multiply(e, coef, out=out)
            out -= target * scale if per_row or scale != 1.0 else target
        return out

    def softmax_cross_entropy_mean(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """The (weighted) mean loss, sum_n w_n loss_n / sum_n w_n; fills ``grad`` with dL/dlogits.

        scikit-learn's objective (w_n = 1 without weights). ``grad`` (shape (N, C), logits'
        dtype, C-contiguous) may be ``logits`` itself. A zero total weight gives loss 0 and a
        zero gradient.
        """
        e = grad if not np.may_share_memory(grad, logits) else np.empty_like(logits)
        loss, cache = self.softmax_cross_entropy(logits, target, e)
        if sample_weight is None:
            weight_sum = float(logits.shape[0])
            scale: float | np.ndarray = 1.0 / weight_sum
            value = float(loss.sum()) / weight_sum
        else:
            weight_sum = float(np.sum(sample_weight, dtype=np.float64))
            if weight_sum <= 0:
                grad[...] = 0.0
                return 0.0
            value = weighted_total(sample_weight, loss) / weight_sum
            # w / sum(w) in float64: float32 weights near float32's limit have a sum beyond it,
            # which a float32 division took as inf (every scale 0, no step at all)
            w64 = sample_weight.astype(np.float64, copy=False)
            scale = (w64 / weight_sum).astype(logits.dtype).reshape(-1, 1)
        self.softmax_cross_entropy_grad(cache, scale, out=grad)
        return value

    def softmax_cross_entropy_mean_correct(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        sample_weight: np.ndarray | None = None,
        ignore_index: int | None = None,
    ) -> tuple[float, float]:
        """The training step's loss: (weighted) mean loss, gradient and correct predictions.

        Parameters
        ----------
        logits : ndarray of shape (N, C), C-contiguous float32/64
        target : ndarray of int of shape (N,)
            Class indices in [0, C), or ``ignore_index``.
        grad : ndarray of shape (N, C), logits' dtype, C-contiguous
            Receives dL/dlogits, w_n / sum(w) * (softmax(logits_n) - onehot(y_n)); may be
            ``logits`` itself.
        sample_weight : ndarray of shape (N,), optional
            w_n (1 for every row without it).
        ignore_index : int, optional
            Rows with this target count in nothing: not in the loss, the weight sum or the
            count, and their gradient row is 0.

        Returns
        -------
        loss : float
            sum_n w_n loss_n / sum_n w_n over the rows not ignored.
        correct : float
            sum_n w_n [argmax_c logits[n] == y_n] over the rows not ignored (np.argmax: the
            first maximum; a NaN is the maximum).

        Raises
        ------
        IndexError
            A target (not ignored) outside [0, C), before anything is written.

        Notes
        -----
        A total weight of 0 (an empty batch, every row ignored or weighing 0) gives loss 0, a
        zero gradient and a count of 0. The Numba lane does the same in one pass over the
        logits; here it is the argmax, then :meth:`softmax_cross_entropy_mean` on the rows
        kept.
        """
        kept = None if ignore_index is None else target != ignore_index
        if kept is not None and kept.all():
            kept = None
        if kept is not None:  # the rows that count, as copies: grad may overwrite the logits
            rows, target = logits[kept], target[kept]
            if sample_weight is not None:
                sample_weight = sample_weight[kept]
        else:
            rows = logits
        if target.size and (target.min() < 0 or target.max() >= logits.shape[1]):
            raise IndexError(
                f"softmax_cross_entropy_mean: target must hold class indices in "
                f"[0, {logits.shape[1]}); got values from {target.min()} to {target.max()}"
            )
        weight_sum = (
            rows.shape[0]
            if sample_weight is None
            else float(np.sum(sample_weight, dtype=np.float64))
        )
        if not weight_sum > 0:
            grad[...] = 0.0
            return 0.0, 0.0
        hits = np.argmax(rows, axis=1) == target  # before grad (maybe the logits) is written
        correct = float(
            np.count_nonzero(hits)
            if sample_weight is None
            else np.sum(sample_weight, where=hits, dtype=np.float64)  # float32's sum may overflow
        )
        if kept is None:
            return self.softmax_cross_entropy_mean(rows, target, grad, sample_weight), correct
        kept_grad = np.empty_like(rows)
        loss = self.softmax_cross_entropy_mean(rows, target, kept_grad, sample_weight)
        grad[...] = 0.0
        grad[kept] = kept_grad
        return loss, correct

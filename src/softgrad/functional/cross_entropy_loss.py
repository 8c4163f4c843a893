"""Cross-entropy on logits and its fused gradient, with torch.nn.functional.cross_entropy's options.

Shape legend: N samples, C classes, ``...`` any leading dimensions. Logits have the class axis
at ``axis``; class-index targets have the logits' shape without it, probability targets the
logits' own shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._ce_lean import plain_rows_grad, plain_rows_loss
from ._checks import check_out, to_output
from ._kernels import log_softmax_into, row_logsumexp, softmax_into
from ._targets import Problem, subtract_at_targets

__all__ = ["cross_entropy", "cross_entropy_grad"]


def cross_entropy(
    logits: Any,
    target: Any,
    axis: int = -1,
    reduction: str = "mean",
    weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
) -> Any:
    """Cross-entropy between softmax(logits) and the targets, as torch.nn.functional.cross_entropy.

    With logp = log_softmax(logits, axis), C classes and eps = label_smoothing:

    - class indices y: loss_n = (1 - eps) * w[y_n] * (-logp[n, y_n])
      + (eps / C) * sum_c w[c] * (-logp[n, c]); ignored targets have loss 0.
    - class probabilities t: loss_n = -sum_c w[c] * t'[n, c] * logp[n, c] with
      t' = (1 - eps) * t + eps / C.

    Parameters
    ----------
    logits : array_like of shape (..., C, ...)
        Unnormalised scores, class axis at ``axis``.
    target : array_like of int, shape logits.shape without axis; or of float, shape logits.shape
        Class indices in [0, C) (or ``ignore_index``), or class probabilities.
    axis : int, default -1
        The class axis of ``logits``.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean' divides the sum by sum_n w[y_n] over non-ignored targets (class indices) or by
        the number of samples (probabilities); 'none' returns the per-sample losses.
    weight : array_like of shape (C,), optional
        Finite, non-negative class weights (default all 1).
    ignore_index : int, optional
        A target value whose samples are left out (loss and gradient 0, not counted by 'mean').
        Only for class-index targets.
    label_smoothing : float in [0, 1], default 0.0
        Mixes the target with the uniform distribution, as torch does (weights included).

    Returns
    -------
    loss : scalar of the output dtype ('mean', 'sum'), or ndarray of shape target's sample shape

    Notes
    -----
    - Exactly torch's semantics, except that a 'mean' over zero non-ignored targets (or zero
      total weight, or zero samples), where torch returns NaN, returns 0.0 here (and its
      gradient is zero).
    - dtype: float16/32/64 logits give that dtype (float16 computed in float32); int/bool
      logits give float64.
    - Finite logits give a finite loss whenever the loss itself is representable (it can only
      overflow when a row's logits span more than the dtype's range, e.g. [3e38, -3e38] in
      float32 with target 1: the true loss 6e38 rounds to inf, see ``log_softmax``), and
      always a finite gradient.
    - Non-finite logits follow :func:`log_softmax`: -inf logits (a mask) are fine, k +inf
      logits share the mass (loss log(k) at one of them, inf elsewhere; torch gives NaN), a
      NaN makes only its own sample's loss NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import cross_entropy
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(float(cross_entropy(logits, np.array([0, 2]))), 6)
    0.669079
    >>> cross_entropy(logits, np.array([0, 2]), reduction="none", label_smoothing=0.1)
    array([0.3728781 , 1.09861229])
    """
    if weight is None and ignore_index is None and type(label_smoothing) is float:
        loss = plain_rows_loss(logits, target, axis, reduction, label_smoothing)
        if loss is not None:
            return loss
    p = Problem(
        logits, target, axis, reduction, weight, ignore_index, label_smoothing, "cross_entropy"
    )
    x = p.rows.x
    # -logp = lse - x: one exp pass for the row logsumexp, no (M, C) log-probabilities, unless
    # a row has no finite lse (+inf, NaN, all -inf), which takes log_softmax's limits
    lse = row_logsumexp(x)
    if np.all(np.isfinite(lse)):
        base, offset = x, lse.astype(np.float64)
    else:
        base, offset = log_softmax_into(x, 1, None, np.empty_like(x)), 0.0
    # per-row losses are accumulated in float64 (an (M,) vector, cheap); only an
    # unrepresentable loss overflows, to inf
    with np.errstate(over="ignore", invalid="ignore"):
        per_row, divisor = _per_row_losses(p, base, offset)
    return p.reduce(per_row, divisor)


def _per_row_losses(p: Problem, base: np.ndarray, offset: Any) -> tuple[np.ndarray, float]:
    # with -logp = offset - base: (base, offset) = (logits, lse) or (logp, 0)
    if p.probs:
        t = p.smoothed_targets()
        per_row = offset * np.sum(t, axis=1, dtype=np.float64)
        per_row -= np.einsum("ij,ij->i", base, t, dtype=np.float64)
        return per_row, float(base.shape[0])
    wy, divisor = p.class_weights()
    per_row = offset - base[np.arange(base.shape[0]), p.t].astype(np.float64)
    if wy is not None:
        per_row *= wy
    if p.eps:
        per_row *= 1.0 - p.eps
        # the weights are scaled before summing: sum_c w_c logp_c alone can overflow
        share = np.full(p.rows.n_classes, p.eps / p.rows.n_classes)
        if p.w is not None:
            share *= p.w
        per_row += offset * float(np.sum(share))
        per_row -= np.einsum("ij,j->i", base, share, dtype=np.float64)
    if p.valid is not None:
        # an ignored row may hold -inf/NaN log-probabilities: force its loss to exactly 0
        per_row[~p.valid] = 0.0
    return per_row, divisor


def cross_entropy_grad(
    logits: Any,
    target: Any,
    axis: int = -1,
    reduction: str = "mean",
    weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits, in the fused form.

    With s = softmax(logits, axis) and the smoothed, weighted target of each sample,

    - class indices: grad_n = r * (s_n * ((1 - eps) w[y_n] + (eps / C) sum_c w[c])
      - (1 - eps) w[y_n] onehot(y_n) - (eps / C) w); unweighted: r * (s_n - t'_n) with
      t' = (1 - eps) onehot(y) + eps / C, "softmax minus smoothed target";
    - probabilities: grad_n = r * (s_n * sum_c t2[n, c] - t2_n), t2 = w * ((1 - eps) t + eps / C);

    r = 1 / (the 'mean' divisor) for 'mean', else 1. Ignored samples get zero rows.

    Parameters
    ----------
    logits, target, axis, reduction, weight, ignore_index, label_smoothing
        As :func:`cross_entropy`.
    out : ndarray of shape logits.shape, optional
        Buffer for the result (output dtype). May be ``logits`` itself (in-place).

    Returns
    -------
    grad_logits : ndarray of shape logits.shape
        dL/dlogits. For reduction='none' row n holds d loss_n / d logits_n, which is also the
        gradient of the sum of the per-sample losses (each depends on its own row only).

    Notes
    -----
    One softmax pass plus an in-place correction: no log-softmax, no Jacobian. A 'mean' over
    zero non-ignored targets gives an all-zero gradient (torch: NaN). dtype as cross_entropy.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import cross_entropy_grad
    >>> cross_entropy_grad(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]), np.array([0, 1]))
    array([[-0.25 ,  0.25 ],
           [ 0.125, -0.125]])
    """
    if weight is None and ignore_index is None and type(label_smoothing) is float:
        grad = plain_rows_grad(logits, target, axis, reduction, label_smoothing, out)
        if grad is not None:
            return grad
    name = "cross_entropy_grad"
    p = Problem(logits, target, axis, reduction, weight, ignore_index, label_smoothing, name)
    if out is not None:
        check_out(out, p.rows.shape, p.rows.out_dtype, name)
    view = None if out is None else p.rows.row_view(out)
    x = p.rows.x
    # C order whatever x's layout: subtract_at_targets indexes the flat buffer
    buf = view if view is not None else np.empty(x.shape, x.dtype)
    if p.probs:
        _prob_grad(p, buf)
    else:
        _class_grad(p, buf)
    if view is not None:
        return out
    grad = p.rows.restore(buf)
    return to_output(grad if out is not None else np.ascontiguousarray(grad), p.rows.out_dtype, out)


def _prob_grad(p: Problem, buf: np.ndarray) -> None:
    t = p.smoothed_targets()
    softmax_into(p.rows.x, 1, None, buf)
    buf *= np.sum(t, axis=1, keepdims=True)
    buf -= t
    if p.reduction == "mean" and buf.shape[0]:
        buf *= 1.0 / buf.shape[0]


def _class_grad(p: Problem, buf: np.ndarray) -> None:
    x, eps, n = p.rows.x, p.eps, p.rows.n_classes
    wy, divisor = p.class_weights()
    scale = 1.0
    if p.reduction == "mean":
        scale = 1.0 / divisor if divisor > 0 else 0.0
    if wy is None:
        # unweighted, nothing ignored: the coefficient of s is the constant scale, fused into
        # the softmax normalisation
        softmax_into(x, 1, None, buf, scale=scale)
    else:
        w_total = float(n) if p.w is None else float(np.sum(p.w, dtype=np.float64))
        coef = wy * (scale * (1.0 - eps))
        if eps:
            smooth = scale * eps / n * w_total
            coef += smooth  # ignored rows are zeroed at the end
        softmax_into(x, 1, None, buf)
        buf *= coef[:, None]
    if eps:
        uniform = scale * eps / n
        buf -= uniform if p.w is None else p.w * uniform
    subtract_at_targets(buf, p.t, scale * (1.0 - eps) if wy is None else wy * (scale * (1.0 - eps)))
    if p.valid is not None:
        buf[~p.valid] = 0.0

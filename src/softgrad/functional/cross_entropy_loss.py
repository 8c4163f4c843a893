"""Cross-entropy on logits and its fused gradient, with torch.nn.functional.cross_entropy's options.

Shape legend: N samples, C classes, ``...`` any leading dimensions. Logits have the class axis
at ``axis``; class-index targets have the logits' shape without it, probability targets the
logits' own shape.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike

from softgrad.checks import check_out, quiet_underflow, to_output
from softgrad.kernels import get_ops
from softgrad.kernels.losses import SoftmaxCE
from softgrad.kernels.rows import row_blocks

from ._targets import Problem

__all__ = [
    "Problem",
    "RowLosses",
    "cross_entropy",
    "cross_entropy_grad",
    "row_grad",
    "row_losses",
]


@overload
def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int = ...,
    *,
    reduction: Literal["mean", "sum"] = ...,
    weight: ArrayLike | None = ...,
    ignore_index: int | None = ...,
    label_smoothing: float = ...,
) -> np.floating[Any]: ...


@overload
def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int = ...,
    *,
    reduction: Literal["none"],
    weight: ArrayLike | None = ...,
    ignore_index: int | None = ...,
    label_smoothing: float = ...,
) -> np.ndarray: ...


@overload
def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int = ...,
    *,
    reduction: str = ...,
    weight: ArrayLike | None = ...,
    ignore_index: int | None = ...,
    label_smoothing: float = ...,
) -> np.floating[Any] | np.ndarray: ...


@quiet_underflow
def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int = -1,
    *,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
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
        Only for class-index targets. None (the default) ignores nothing: torch's default, -100, is
        refused here as a class index out of range; pass ``ignore_index=-100`` for torch's.
    label_smoothing : float in [0, 1], default 0.0
        Mixes the target with the uniform distribution, as torch does (weights included).

    Returns
    -------
    loss : scalar of the output dtype ('mean', 'sum'), or ndarray of shape target's sample shape

    Notes
    -----
    - Exactly torch's semantics, except ``ignore_index``'s default (None, not -100) and that a
      'mean' over zero non-ignored targets (or zero total weight, or zero samples), where
      torch returns NaN, returns 0.0 here (and its gradient is zero).
    - dtype: float16/32/64 logits give that dtype (float16 computed in float32); int/bool
      logits give float64.
    - Finite logits give a finite loss whenever the loss itself is representable (it can only
      overflow when a row's logits span more than the dtype's range, e.g. [3e38, -3e38] in
      float32 with target 1: the true loss 6e38 rounds to inf, see ``log_softmax``), and
      always a finite gradient.
    - Non-finite logits follow :func:`log_softmax`: -inf logits (a mask) are fine, k +inf
      logits share the mass (loss log(k) at one of them, inf elsewhere; torch gives NaN), a
      NaN makes only its own sample's loss NaN. With probability targets, a class whose
      target is 0 adds nothing at an infinite logit (0 * inf is taken as 0; torch gives NaN).

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
    p = Problem(
        logits, target, axis, reduction, weight, ignore_index, label_smoothing, "cross_entropy"
    )
    losses = row_losses(p, None)  # no gradient: no cache of the exponentials
    return p.reduce(losses.loss, losses.divisor)


def _losses_in_blocks(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The kernel's per-row losses (float64), a block of rows at a time into one scratch."""
    loss = np.empty(x.shape[0], dtype=np.float64)
    ops = get_ops()  # every block on one lane, whatever another thread chooses meanwhile
    for rows, e in row_blocks(x.shape[0], x.shape[1], x.dtype):
        loss[rows] = ops.softmax_cross_entropy(x[rows], target[rows], e)[0]
    return loss


class RowLosses(NamedTuple):
    """A validated call's per-row losses, and what its gradient needs."""

    loss: np.ndarray  # (M,) float64, row weights applied, ignored rows 0
    cache: SoftmaxCE | None  # e = exp(logits - shift), its row sums, the targets (None: empty)
    row_weight: np.ndarray | None  # (M,) w[y_n] for index targets, None for all ones
    divisor: float  # the 'mean' divisor


def row_losses(p: Problem, e: np.ndarray | None) -> RowLosses:
    """Per-row losses of a validated call from the one kernel; ``e`` (M, C) is filled, the
    cache of the gradient. ``e`` None: no gradient, and no cache (``cache`` None): the
    exponentials of a block of rows at a time (:func:`~softgrad.kernels.rows.row_blocks`),
    not of the whole input at once."""
    target, row_weight, divisor = p.kernel_target()
    x = p.rows.x
    n_rows = x.shape[0]
    if x.size == 0:  # no sample, or no class (an empty sum: loss 0)
        return RowLosses(np.zeros(n_rows), None, None, divisor)
    if e is not None:
        loss, cache = get_ops().softmax_cross_entropy(x, target, e)
    else:
        loss, cache = _losses_in_blocks(x, target), None
    if row_weight is not None:
        # an ignored row (weight 0, forced to 0 below) or a class of weight 0 whose loss is
        # inf gives inf * 0 = NaN: quietly, as nll_loss does (a RuntimeWarning was an error
        # under -W error for a row the call had asked to ignore)
        with np.errstate(invalid="ignore"):
            loss *= row_weight
    if p.valid is not None:
        # an ignored row may hold -inf/NaN logits: force its loss to exactly 0
        loss[~p.valid] = 0.0
    return RowLosses(loss, cache, row_weight, divisor)


@quiet_underflow
def cross_entropy_grad(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int = -1,
    *,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
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
    name = "cross_entropy_grad"
    p = Problem(logits, target, axis, reduction, weight, ignore_index, label_smoothing, name)
    if out is not None:
        check_out(out, p.rows.shape, p.rows.out_dtype, name)
    view = None if out is None else p.rows.row_view(out)
    x = p.rows.x
    # the gradient goes into e = exp(logits - shift) itself: e may be out, unless out is logits
    direct = view is not None and not np.may_share_memory(view, x)
    e = view if view is not None and direct else np.empty(x.shape, x.dtype)
    row_grad(p, row_losses(p, e), out=e)
    if out is not None and direct:  # (a view is of out)
        return out
    if out is not None and view is not None:
        np.copyto(view, e)
        return out
    grad = p.rows.restore(e)
    return to_output(grad if out is not None else np.ascontiguousarray(grad), p.rows.out_dtype, out)


def row_grad(p: Problem, losses: RowLosses, out: np.ndarray) -> np.ndarray:
    """dL/dlogits as (M, C) rows into ``out`` (may be the cached e) from the one gradient kernel.

    r_n = r * w[y_n] (r from the reduction); ignored rows are exactly 0.
    """
    if losses.cache is not None:
        scale: float | np.ndarray = p.grad_scale(losses.divisor)
        if losses.row_weight is not None:
            scale = (losses.row_weight * scale).astype(out.dtype).reshape(-1, 1)
        get_ops().softmax_cross_entropy_grad(losses.cache, scale, out=out)
    if p.valid is not None:
        out[~p.valid] = 0.0
    return out

"""Negative log-likelihood on log-probabilities, as torch.nn.functional.nll_loss.

The formulas (per-row loss and gradient) are the kernels' (:mod:`softgrad.kernels.nll`); here
the arguments are validated, laid out as (M, C) rows and the losses reduced.

Shape legend: N samples, C classes, ``...`` any leading dimensions.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike

from softgrad.checks import check_out, quiet_underflow, to_output
from softgrad.kernels import get_ops

from ._targets import (
    Rows,
    as_target,
    check_options,
    class_targets,
    grad_scale,
    reduce_rows,
    to_rows,
    weights,
)

__all__ = ["NLLProblem", "nll_loss", "nll_loss_grad"]


class NLLProblem(NamedTuple):
    """One validated negative-log-likelihood call, in the kernels' (M, C) row layout."""

    rows: Rows  # logp as (M, C) rows in the compute dtype, and how to undo the layout
    reduction: str
    target: np.ndarray  # (M,) intp in [0, C); 0 for an ignored row
    valid: np.ndarray | None  # (M,) False for an ignored row; None when none is
    row_weight: np.ndarray | None  # (M,) w[y_n], 0 for an ignored row; None for all ones
    divisor: float  # the 'mean' divisor: sum_n w[y_n] over the kept rows

    @classmethod
    def check(cls, logp, target, axis, reduction, weight, ignore_index, where) -> NLLProblem:
        """Validate the arguments of :func:`nll_loss` (messages name ``where``)."""
        check_options(reduction, 0.0, ignore_index, where)
        rows = to_rows(logp, axis, where, "logp")
        w = weights(weight, rows.n_classes, rows.x.dtype, where)
        target = as_target(target, where)
        if target.dtype.kind not in "iu":
            raise TypeError(
                f"{where}: target must be an integer array of class indices; "
                f"got dtype {str(target.dtype)!r}"
            )
        t, valid = class_targets(target, rows, ignore_index, where)
        wy = None if w is None else w[t]
        if valid is not None:
            wy = valid.astype(rows.x.dtype) if wy is None else wy * valid
        divisor = float(rows.x.shape[0] if wy is None else np.sum(wy, dtype=np.float64))
        return cls(rows, reduction, t, valid, wy, divisor)

    def reduce(self, loss: np.ndarray) -> Any:
        """The per-row losses reduced as ``reduction`` says (see ``reduce_rows``)."""
        return reduce_rows(loss, self.rows, self.reduction, self.divisor)


@overload
def nll_loss(
    logp: ArrayLike,
    target: ArrayLike,
    axis: int = ...,
    *,
    reduction: Literal["mean", "sum"] = ...,
    weight: ArrayLike | None = ...,
    ignore_index: int | None = ...,
) -> np.floating[Any]: ...


@overload
def nll_loss(
    logp: ArrayLike,
    target: ArrayLike,
    axis: int = ...,
    *,
    reduction: Literal["none"],
    weight: ArrayLike | None = ...,
    ignore_index: int | None = ...,
) -> np.ndarray: ...


@overload
def nll_loss(
    logp: ArrayLike,
    target: ArrayLike,
    axis: int = ...,
    *,
    reduction: str = ...,
    weight: ArrayLike | None = ...,
    ignore_index: int | None = ...,
) -> np.floating[Any] | np.ndarray: ...


@quiet_underflow
def nll_loss(
    logp: ArrayLike,
    target: ArrayLike,
    axis: int = -1,
    *,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
    ignore_index: int | None = None,
) -> Any:
    """Negative log-likelihood: loss_n = -w[y_n] * logp[n, y_n] (0 for ignored targets).

    Parameters
    ----------
    logp : array_like of shape (..., C, ...)
        Log-probabilities (e.g. ``log_softmax(logits, axis)``), class axis at ``axis``.
    target : array_like of int, shape logp.shape without axis
        Class indices in [0, C) or ``ignore_index``.
    axis : int, default -1
        The class axis.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        'mean' divides the sum by sum_n w[y_n] over the non-ignored targets.
    weight : array_like of shape (C,), optional
        Finite, non-negative class weights.
    ignore_index : int, optional
        Target value whose samples are left out. None (the default) ignores nothing:
        torch's default, -100, is refused here as a class index out of range; pass
        ``ignore_index=-100`` for torch's.

    Returns
    -------
    loss : scalar of the output dtype ('mean', 'sum') or ndarray of shape target.shape ('none')

    Notes
    -----
    torch's semantics, except ``ignore_index``'s default (None, not -100) and that a 'mean'
    over zero non-ignored targets (or zero total weight) is 0.0 instead of NaN. dtype as
    :func:`softmax`.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import nll_loss
    >>> logp = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
    >>> round(float(nll_loss(logp, np.array([0, 1]))), 6)
    0.490415
    """
    p = NLLProblem.check(logp, target, axis, reduction, weight, ignore_index, "nll_loss")
    return p.reduce(get_ops().nll_loss(p.rows.x, p.target, p.row_weight, p.valid))


@quiet_underflow
def nll_loss_grad(
    logp: ArrayLike,
    target: ArrayLike,
    axis: int = -1,
    *,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`nll_loss` with respect to logp: -r * w[y_n] at (n, y_n), 0 elsewhere.

    r = 1 / sum_n w[y_n] (non-ignored) for 'mean', else 1; for 'none' row n holds
    d loss_n / d logp_n.

    Parameters
    ----------
    logp, target, axis, reduction, weight, ignore_index
        As :func:`nll_loss`.
    out : ndarray of shape logp.shape, optional
        Buffer for the result (output dtype).

    Returns
    -------
    grad_logp : ndarray of shape logp.shape

    Notes
    -----
    The gradient does not read logp's values: a -inf or NaN logp at a target still gets -r * w,
    though :func:`nll_loss` is inf or NaN there. A 'mean' with no non-ignored target (or zero
    total weight) gives all 0, matching the loss's 0.0.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import nll_loss_grad
    >>> nll_loss_grad(np.log(np.array([[0.5, 0.5], [0.25, 0.75]])), np.array([0, 1]))
    array([[-0.5,  0. ],
           [ 0. , -0.5]])
    """
    name = "nll_loss_grad"
    p = NLLProblem.check(logp, target, axis, reduction, weight, ignore_index, name)
    if out is not None:
        check_out(out, p.rows.shape, p.rows.out_dtype, name)
    grad = get_ops().nll_loss_grad(
        p.target, p.row_weight, grad_scale(p.reduction, p.divisor), np.empty_like(p.rows.x)
    )
    result = p.rows.restore(grad)
    if out is None:
        result = np.ascontiguousarray(result)
    return to_output(result, p.rows.out_dtype, out)

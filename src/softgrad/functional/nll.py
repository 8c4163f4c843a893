"""Negative log-likelihood on log-probabilities, as torch.nn.functional.nll_loss.

Shape legend: N samples, C classes, ``...`` any leading dimensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks import check_out, to_output, to_scalar

from ._targets import check_options, class_targets, to_rows, weights

__all__ = ["nll_loss", "nll_loss_grad"]


def _prepare(logp, target, axis, reduction, weight, ignore_index, where):
    check_options(reduction, 0.0, ignore_index, where)
    rows = to_rows(logp, axis, where, "logp")
    w = weights(weight, rows.n_classes, rows.x.dtype, where)
    target = np.asarray(target)
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
    return rows, t, valid, wy, divisor


def nll_loss(
    logp: Any,
    target: Any,
    axis: int = -1,
    reduction: str = "mean",
    weight: Any = None,
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
        Target value whose samples are left out.

    Returns
    -------
    loss : scalar of the output dtype ('mean', 'sum') or ndarray of shape target.shape ('none')

    Notes
    -----
    torch's semantics, except that a 'mean' over zero non-ignored targets (or zero total
    weight) is 0.0 instead of NaN. dtype as :func:`softmax`.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import nll_loss
    >>> logp = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
    >>> round(float(nll_loss(logp, np.array([0, 1]))), 6)
    0.490415
    """
    rows, t, valid, wy, divisor = _prepare(
        logp, target, axis, reduction, weight, ignore_index, "nll_loss"
    )
    picked = rows.x[np.arange(rows.x.shape[0]), t]
    per_row = -picked if wy is None else picked * -wy
    if valid is not None:
        per_row = np.where(valid, per_row, 0.0).astype(rows.x.dtype, copy=False)
    if reduction == "none":
        return to_output(per_row.reshape(rows.lead), rows.out_dtype)
    total = float(np.sum(per_row, dtype=np.float64))
    if reduction == "mean":
        total = total / divisor if divisor > 0 else 0.0
    return to_scalar(total, rows.out_dtype)


def nll_loss_grad(
    logp: Any,
    target: Any,
    axis: int = -1,
    reduction: str = "mean",
    weight: Any = None,
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

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import nll_loss_grad
    >>> nll_loss_grad(np.log(np.array([[0.5, 0.5], [0.25, 0.75]])), np.array([0, 1]))
    array([[-0.5,  0. ],
           [ 0. , -0.5]])
    """
    name = "nll_loss_grad"
    rows, t, _, wy, divisor = _prepare(logp, target, axis, reduction, weight, ignore_index, name)
    if out is not None:
        check_out(out, rows.shape, rows.out_dtype, name)
    scale = 1.0
    if reduction == "mean":
        scale = 1.0 / divisor if divisor > 0 else 0.0
    grad = np.zeros_like(rows.x)
    # 0.0 - w * r, not w * -r: an ignored (zero-weight) entry stays +0.0, never -0.0
    grad[np.arange(grad.shape[0]), t] = -scale if wy is None else 0.0 - wy * scale
    result = rows.restore(grad)
    if out is None:
        result = np.ascontiguousarray(result)
    return to_output(result, rows.out_dtype, out)

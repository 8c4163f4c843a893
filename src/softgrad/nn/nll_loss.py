"""NLLLoss: the negative log-likelihood on log-probabilities or on probabilities, the textbook
Softmax -> negative-log-likelihood network."""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from softgrad.checks import as_array, quiet_underflow
from softgrad.functional._targets import as_target, grad_scale
from softgrad.functional.nll import NLLProblem
from softgrad.kernels import get_ops
from softgrad.nn.layer import check_input_grad
from softgrad.nn.loss import Loss


class NLLLoss(Loss):
    """Negative log-likelihood of class-index targets, on log-probabilities or probabilities.

    ``log_input=True`` (default): the input is log-probabilities ``logp`` (e.g. the output of
    LogSoftmax) and the loss is :func:`softgrad.functional.nll_loss` (PyTorch's ``nll_loss``):
    ``-w[t] * logp[t]`` per sample, reduced. ``forward`` validates as that function does and
    calls the same kernel pair (:mod:`softgrad.kernels.nll`), keeping the validated targets
    for ``backward``.

    ``log_input=False``: the input is probabilities ``p`` (the output of a Softmax layer, the
    textbook network) and the loss is the same on ``log(p)``; backward returns
    ``dL/dp = dL/dlogp / p``, which a Softmax layer's backward turns into the exact
    ``w * (s - onehot) / N``.

    Parameters
    ----------
    axis : int, default -1
    reduction : {"mean", "sum", "none"}, default "mean"
    weight : array-like of shape (C,), optional
    ignore_index : int, optional
        As :func:`softgrad.functional.nll_loss`'s: None (the default) ignores nothing, where
        torch's default is -100.
    log_input : bool, default True

    Notes
    -----
    With ``log_input=False``, probabilities are clipped below at ``tiny``, the smallest positive
    *normal* number of their dtype (1.2e-38 in float32, 2.2e-308 in float64), before the log:
    an exact 0 (a softmax that underflowed) would give an infinite loss and ``1 / p`` would
    overflow. Clipping at the smallest subnormal instead would still let ``1 / p`` overflow in
    float32. So the per-sample loss is at most ``-log(tiny)`` (87.3 in float32, 708.4 in
    float64), and for a clipped entry the gradient is ``dL/dlogp / tiny`` (finite, pointing the
    right way) rather than the derivative of the clipped function (0). For every p >= tiny the
    loss and the gradient are exact. Negative probabilities are rejected.

    Examples
    --------
    >>> loss = NLLLoss(log_input=False)
    >>> round(loss.forward(np.array([[0.25, 0.75]]), np.array([1])), 6)  # -log(0.75)
    0.287682
    >>> loss.backward()  # -1 / 0.75 at the target
    array([[ 0.        , -1.33333333]])
    """

    _cache_attrs = ("_problem", "_clipped")  # the last forward, for backward

    def __init__(
        self,
        *,
        axis: int = -1,
        reduction: str = "mean",
        weight: Any = None,
        ignore_index: int | None = None,
        log_input: bool = True,
    ) -> None:
        super().__init__(axis, reduction, weight, ignore_index)
        if not isinstance(log_input, (bool, np.bool_)):
            raise TypeError(f"NLLLoss: log_input must be a bool; got {log_input!r}")
        self.log_input = bool(log_input)
        self._problem: NLLProblem | None = None  # the validated call: layout, targets, weights
        self._clipped: np.ndarray | None = None

    def get_config(self) -> dict[str, Any]:
        """JSON-safe constructor arguments."""
        return {**super().get_config(), "log_input": self.log_input}

    @quiet_underflow
    def forward(  # type: ignore[override]  # takes the targets too, as every loss does (Loss)
        self, x: np.ndarray, target: np.ndarray
    ) -> float | np.ndarray:
        """Loss of log-probabilities (or probabilities, ``log_input=False``) against ``target``.

        Parameters
        ----------
        x : ndarray of shape (N, C) (or any shape S with C along ``axis``)
        target : ndarray of int of shape S without ``axis``

        Returns
        -------
        float, or ndarray of shape S without ``axis`` for ``reduction="none"``
        """
        # masked arrays refused: np.asarray dropped the mask, and the hidden entries counted
        x = as_array(x, "NLLLoss.forward", "x", fix="x.filled(value)")
        target = as_target(target, "NLLLoss.forward")
        if self.log_input:
            logp, clipped = x, None
        else:
            if not np.issubdtype(x.dtype, np.floating):
                x = x.astype(np.float64)
            if np.any(x < 0):
                raise ValueError(
                    "NLLLoss.forward: probabilities must be >= 0 (log_input=False); "
                    f"got a minimum of {x.min()!r}"
                )
            logp, clipped = get_ops().log_clipped(x, np.finfo(x.dtype).tiny)
        p = NLLProblem.check(
            logp, target, self.axis, self.reduction, self.weight, self.ignore_index, "nll_loss"
        )
        loss = p.reduce(get_ops().nll_loss(p.rows.x, p.target, p.row_weight, p.valid))
        self._problem, self._clipped = p, clipped
        return self._result(loss)

    # None only for input_grad=False: a type checker then takes model.backward(loss.backward())
    @overload
    def backward(self, grad_y: Any = None, input_grad: Literal[True] = True) -> np.ndarray: ...
    @overload
    def backward(self, grad_y: Any = None, input_grad: bool = True) -> np.ndarray | None: ...
    @quiet_underflow
    def backward(self, grad_y: Any = None, input_grad: bool = True) -> np.ndarray | None:
        """dL/dinput, times ``grad_y`` (scalar, or per-sample for ``reduction="none"``).

        Returns
        -------
        ndarray of the input's shape and dtype (None if ``input_grad`` is False)
        """
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        p = self._check_forward_done(self._problem)
        if not input_grad:
            return None
        scale = grad_scale(p.reduction, p.divisor)
        rows = get_ops().nll_loss_grad(p.target, p.row_weight, scale, np.empty_like(p.rows.x))
        grad = np.ascontiguousarray(p.rows.restore(rows))
        if grad.dtype != p.rows.out_dtype:
            grad = grad.astype(p.rows.out_dtype)
        if self._clipped is not None:
            get_ops().log_clipped_vjp(self._clipped, grad, out=grad)
        return self._scale(grad, grad_y)

"""LogisticLoss: sigmoid cross-entropy on logits, for one logistic output or several."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np

from softgrad.checks import as_real_float, quiet_underflow
from softgrad.functional._targets import check_label_smoothing
from softgrad.kernels import get_ops
from softgrad.nn.layer import Layer, check_input_grad
from softgrad.nn.loss import StepLoss, check_max_sample_loss, weighted_mean

_REDUCTIONS = ("mean", "sum", "none")


class LogisticLoss(Layer):
    """Sigmoid cross-entropy of logits (N, K) against targets: scikit-learn's binary log-loss.

    Per sample, summed over the K outputs (formulas in :mod:`softgrad.kernels.logistic`)::

        l_i = sum_k log(1 + exp(z_ik)) - t_ik * z_ik        dl_i/dz_ik = sigmoid(z_ik) - t_ik

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean or sum of l_i over the samples, or the (N,) per-sample losses.
    label_smoothing : float in [0, 1], default 0.0
        Targets become ``(1 - eps) * t + eps / 2`` (each output is a two-class problem).
    max_sample_loss : float > 0, optional
        Each sample's loss l_i is reported as at most this before the reduction; the gradient
        is not changed (:class:`~softgrad.nn.CrossEntropyLoss`'s option, which scikit-learn's
        clipped log_loss asks for). None (default) or inf: no cap.

    Notes
    -----
    Targets are either class indices of shape (N,) in {0, 1}, for a single output (K = 1: the
    binary classifier, class 1 where z > 0), or probabilities of shape (N, K) in [0, 1] (one
    independent yes/no per output: multilabel indicators). The loss is finite for any finite
    logits (softplus is taken as ``max(z, 0) + log1p(exp(-|z|))``, which never overflows).
    ``forward`` and ``backward`` check their inputs, then call the row-level methods
    (``_fill_target``, ``_row_losses``, ``_row_grad``) that a training step's plan
    (softgrad.training.step_plan) calls into its own arrays through ``_fused_step``: the same
    results, bit for bit.

    Examples
    --------
    >>> loss = LogisticLoss()
    >>> round(loss.forward(np.array([[0.0], [0.0]]), np.array([0, 1])), 6)  # log 2
    0.693147
    >>> loss.backward()  # (sigmoid(0) - t) / N
    array([[ 0.25],
           [-0.25]])
    """

    _cache_attrs = ("_logits", "_softplus")  # the last forward, for backward

    def __init__(
        self,
        *,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        max_sample_loss: float | None = None,
    ) -> None:
        super().__init__()
        self.max_sample_loss = check_max_sample_loss(max_sample_loss, "LogisticLoss")
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"LogisticLoss: reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}"
            )
        self.reduction = reduction
        self.label_smoothing = check_label_smoothing(label_smoothing, "LogisticLoss")
        self._logits: np.ndarray | None = None
        self._target: np.ndarray | None = None
        self._softplus: np.ndarray | None = None

    def _dense_target(self, logits: np.ndarray, target: Any) -> np.ndarray:
        target = np.asarray(target)
        n, width = logits.shape
        if target.shape == (n,) and width == 1:
            if np.any((target != 0) & (target != 1)):
                raise ValueError(
                    "LogisticLoss.forward: class-index targets must be 0 or 1 for one output; "
                    f"got values in [{target.min().item()!r}, {target.max().item()!r}]"
                )
        elif target.shape != (n, width):
            raise ValueError(
                f"LogisticLoss.forward: target must have shape ({n},) for one output or "
                f"({n}, {width}); got shape {target.shape}"
            )
        return self._fill_target(target, np.empty_like(logits))

    def _fill_target(self, target: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The targets as probabilities, label smoothing applied, written into ``out``.

        target : ndarray of shape (N,) of 0/1 class indices (K = 1) or (N, K) probabilities;
        out : ndarray of shape (N, K) in the logits' dtype. Trusts its inputs (forward checks).
        """
        np.copyto(out, target.reshape(out.shape), casting="unsafe")
        if self.label_smoothing:  # each output spreads over its two outcomes
            get_ops().smooth_targets(out, self.label_smoothing, 2, out=out)
        return out

    def _row_losses(
        self, logits: np.ndarray, dense: np.ndarray, softplus: np.ndarray
    ) -> np.ndarray:
        """Per-sample losses of ``logits`` (N, K) against probabilities ``dense`` (N, K), with
        ``softplus(logits)`` written into ``softplus`` for the gradient: shape (N,)."""
        losses = get_ops().sigmoid_cross_entropy(logits, dense, softplus)
        if self.max_sample_loss is not None:
            np.minimum(losses, self.max_sample_loss, out=losses)
        return losses

    def _reduce(self, losses: np.ndarray) -> float | np.ndarray:
        """The per-sample ``losses`` (N,) reduced as ``reduction`` says."""
        if self.reduction == "none":
            return losses
        total = float(losses.sum(dtype=np.float64))  # np.sum's dispatch: 1 us more a call
        if self.reduction == "sum":
            return total
        return total / len(losses) if len(losses) else 0.0  # no samples: 0, as CrossEntropyLoss

    def _row_grad(
        self,
        logits: np.ndarray,
        dense: np.ndarray,
        softplus: np.ndarray,
        out: np.ndarray,
        scale: np.ndarray | None = None,
    ) -> np.ndarray:
        """dL/dlogits (N, K) written into ``out``: sigmoid(z) - t, over N for "mean", or
        with ``scale`` (N,) each row times its own factor instead (a weighted mean's w / sum(w),
        as ``backward(scale)`` of the per-sample losses multiplies it)."""
        grad = get_ops().sigmoid_cross_entropy_grad(logits, dense, softplus, out)
        if scale is not None:
            np.multiply(grad, scale[:, None], out=grad)
        elif self.reduction == "mean" and len(grad):
            grad *= 1.0 / len(grad)
        return grad

    def _binds_plain_step(self) -> bool:
        """Whether :meth:`_bind_fused_step`'s call is this loss's step now: always, as it is
        :meth:`_fused_step` itself, which reads the settings (the cap too) at each call, and the
        plan checks the reduction before each batch (``StepPlan.ready``)."""
        return True

    def _bind_fused_step(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        dense: np.ndarray,
        softplus: np.ndarray,
        hits: np.ndarray,
    ) -> Callable[[], StepLoss]:
        """:meth:`_fused_step` of these arrays without sample weights, as one call bound now
        (softgrad.training.bound_step): the plan's own call for a full batch."""
        step = self._fused_step
        return functools.partial(step, logits, target, None, grad, dense, softplus, hits)

    def _fuses_settings(self, sample_weight: Any) -> bool:
        """Whether :meth:`_fused_step` serves a training step with these settings: reduction
        "mean", with or without sample weights (softgrad.training.step_plan asks before each
        step)."""
        return self.reduction == "mean"

    def _fused_step(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        sample_weight: np.ndarray | None,
        grad: np.ndarray,
        dense: np.ndarray,
        softplus: np.ndarray,
        hits: np.ndarray,
    ) -> StepLoss:
        """A training step's loss, dL/dlogits and hits for one logistic output, into the
        caller's arrays: ``forward(logits, target)``, ``backward()`` and the count of rows
        whose class (1 where the logit is > 0) is the target; with ``sample_weight``, what a
        training step takes from the per-sample losses instead (softgrad.nn.loss's
        ``weighted_mean_step``): the weighted mean, each row's gradient times w_n / sum(w), the
        weighted count, and no gradient (None) for a batch that weighs 0.

        logits : ndarray of shape (N, 1); target : ndarray of shape (N,) of 0/1 ints;
        sample_weight : ndarray of shape (N,) in the logits' dtype, or None; grad, dense,
        softplus : ndarray of shape (N, 1), the logits' dtype; hits : ndarray of shape (N,),
        bool. Trusts its inputs and :meth:`_fuses_settings` (softgrad.training.step_plan calls
        this with its own arrays); the layer keeps nothing for ``backward``.
        """
        self._fill_target(target, dense)
        losses = self._row_losses(logits, dense, softplus)
        np.greater(logits[:, 0], 0, out=hits)
        np.equal(hits, target, out=hits)
        if sample_weight is None:
            self._row_grad(logits, dense, softplus, grad)
            return StepLoss(self._reduce(losses), grad, float(np.count_nonzero(hits)))
        loss, scale, correct = weighted_mean(losses, sample_weight, hits)
        if scale is None:
            return StepLoss(0.0, None, correct)
        return StepLoss(loss, self._row_grad(logits, dense, softplus, grad, scale), correct)

    # a loss's forward takes the targets too (as Loss's does), and is never a Sequential's step
    @quiet_underflow
    def forward(  # type: ignore[override]
        self, logits: np.ndarray, target: Any
    ) -> float | np.ndarray:
        """Loss of ``logits`` (N, K) against ``target`` ((N,) indices or (N, K) probabilities).

        Returns
        -------
        float, or ndarray of shape (N,) for ``reduction="none"``
        """
        # a real array as every layer takes it: integers as float64, the machine's byte order,
        # float128 and complex refused by name
        logits = as_real_float(logits, "LogisticLoss.forward", "logits")
        if logits.ndim != 2:
            raise ValueError(
                f"LogisticLoss.forward: logits must have shape (N, K); got shape {logits.shape}"
            )
        dense = self._dense_target(logits, target)
        softplus = np.empty_like(logits)
        losses = self._row_losses(logits, dense, softplus)
        self._logits, self._target, self._softplus = logits, dense, softplus
        return self._reduce(losses)

    # None only for input_grad=False: a type checker then takes model.backward(loss.backward())
    @overload
    def backward(self, grad_y: Any = None, input_grad: Literal[True] = True) -> np.ndarray: ...
    @overload
    def backward(self, grad_y: Any = None, input_grad: bool = True) -> np.ndarray | None: ...
    @quiet_underflow
    def backward(self, grad_y: Any = None, input_grad: bool = True) -> np.ndarray | None:
        """dL/dlogits of shape (N, K), times ``grad_y`` (a scalar, or (N,) for "none")."""
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        logits = self._check_forward_done(self._logits)
        if not input_grad:
            return None
        dense, softplus = self._target, self._softplus
        assert dense is not None and softplus is not None  # forward keeps them with the logits
        grad = self._row_grad(logits, dense, softplus, np.empty_like(logits))
        if grad_y is None:
            return grad
        grad_y = as_real_float(grad_y, "LogisticLoss.backward", "grad_y").astype(
            grad.dtype, copy=False
        )
        expected = (len(grad),) if self.reduction == "none" else ()
        if grad_y.shape != expected:
            raise ValueError(
                f"LogisticLoss.backward: grad_y must have shape {expected} for reduction "
                f"{self.reduction!r}; got shape {grad_y.shape}"
            )
        return np.multiply(grad, grad_y[:, None] if grad_y.ndim else grad_y, out=grad)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments: reduction, label_smoothing, max_sample_loss."""
        return {
            "reduction": self.reduction,
            "label_smoothing": self.label_smoothing,
            "max_sample_loss": self.max_sample_loss,
        }

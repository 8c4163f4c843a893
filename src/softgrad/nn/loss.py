"""What the loss layers share: the Loss base class (options, caching, the cotangent's scaling),
the training step's StepLoss, and the weighted mean of per-sample losses.

The layers: :class:`~softgrad.nn.cross_entropy_loss.CrossEntropyLoss`,
:class:`~softgrad.nn.nll_loss.NLLLoss`, :class:`~softgrad.nn.logistic_loss.LogisticLoss`."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from softgrad.nn.layer import Layer

_REDUCTIONS = ("mean", "sum", "none")


class StepLoss(NamedTuple):
    """What a training step needs from its loss, from :meth:`CrossEntropyLoss.forward_backward`.

    Attributes
    ----------
    loss : float
        The batch's loss, as ``forward`` gives it (with ``sample_weight``: the weighted mean).
    grad : ndarray of the logits' shape and dtype, or None
        dL/dlogits, as ``backward()`` gives it; None when the batch weighs 0.
    correct : float
        The (weighted) count of samples whose argmax over the classes is the target.
    """

    loss: float
    grad: np.ndarray | None
    correct: float


class Loss(Layer):
    """Base of the loss layers: ``forward(x, target) -> loss``, ``backward(grad_y=None)``.

    Handles option validation, caching and scaling by the cotangent ``grad_y`` of the loss.
    """

    def __init__(self, axis: int, reduction: str, weight: Any, ignore_index: Any) -> None:
        super().__init__()
        where = type(self).__name__
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{where}: axis must be an int; got {axis!r}")
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{where}: reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}"
            )
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
        ):
            raise TypeError(f"{where}: ignore_index must be an int or None; got {ignore_index!r}")
        if weight is not None:
            weight = np.array(weight)
            if weight.dtype.kind not in "biuf":
                raise TypeError(
                    f"{where}: weight must hold real class weights; got dtype {weight.dtype}"
                )
            weight = weight.astype(np.float64)
            if weight.ndim != 1 or not np.all(np.isfinite(weight)) or np.any(weight < 0):
                raise ValueError(
                    f"{where}: weight must be a 1-d array of finite non-negative class weights; "
                    f"got {weight!r}"
                )
        self.axis = int(axis)
        self.reduction = reduction
        self.weight = weight
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self._input: np.ndarray | None = None
        self._target: np.ndarray | None = None

    def _options(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "reduction": self.reduction,
            "weight": self.weight,
            "ignore_index": self.ignore_index,
        }

    def _result(self, loss: Any) -> float | np.ndarray:
        return np.asarray(loss) if self.reduction == "none" else float(loss)

    def _scale(self, grad: np.ndarray, grad_y: Any) -> np.ndarray:
        """grad * grad_y, with grad_y a scalar (mean/sum) or per-sample losses' cotangent."""
        if grad_y is None:
            return grad
        grad_y = np.asarray(grad_y, dtype=grad.dtype)
        if self.reduction != "none":
            if grad_y.ndim != 0:
                raise ValueError(
                    f"{type(self).__name__}.backward: grad_y must be a scalar for reduction "
                    f"{self.reduction!r}; got shape {grad_y.shape}"
                )
            return np.multiply(grad, grad_y, out=grad)
        expected = grad.shape[: self.axis % grad.ndim] + grad.shape[self.axis % grad.ndim + 1 :]
        if grad.ndim == 0 or grad_y.shape != expected:
            raise ValueError(
                f"{type(self).__name__}.backward: grad_y must have shape {expected} for "
                f"reduction 'none'; got shape {grad_y.shape}"
            )
        return np.multiply(grad, np.expand_dims(grad_y, self.axis), out=grad)

    def get_config(self) -> dict[str, Any]:
        """JSON-safe constructor arguments (weight as a list of floats)."""
        config = self._options()
        config["weight"] = None if self.weight is None else self.weight.tolist()
        return config


def ignored_misses(hits: np.ndarray, target: Any, loss: Any) -> np.ndarray:
    """``hits`` (in place) with no hit at a target the loss ignores (its ``ignore_index``):
    such a sample counts in neither the loss nor the correct predictions, on every route (the
    fused kernel's, the separate passes', fit's and evaluate's)."""
    ignore = getattr(loss, "ignore_index", None)
    if ignore is not None and hits.shape == np.shape(target):
        hits &= np.asarray(target) != ignore
    return hits


def weighted_mean_step(
    per_sample: Loss,
    logits: np.ndarray,
    target: np.ndarray,
    sample_weight: np.ndarray,
    hits: np.ndarray,
) -> StepLoss:
    """A step's loss sum_n w_n l_n / sum_n w_n from a ``reduction="none"`` loss, its gradient
    (each sample's scaled by w_n / sum(w)) and the weighted count of ``hits``; the gradient is
    None when the batch weighs 0. The one place this weighted mean is written, for
    :meth:`CrossEntropyLoss.forward_backward` and the training step of any other loss."""
    loss, scale, correct = weighted_mean(per_sample.forward(logits, target), sample_weight, hits)
    if scale is None:
        return StepLoss(0.0, None, correct)
    return StepLoss(loss, per_sample.backward(scale), correct)


def weighted_mean(
    losses: np.ndarray, sample_weight: np.ndarray, hits: np.ndarray
) -> tuple[float, np.ndarray | None, float]:
    """The weighted mean of per-sample ``losses`` (N,): ``(sum_n w_n l_n / sum_n w_n, scale,
    correct)``, ``scale = w / sum(w)`` (the factor of each sample's gradient) in the weights'
    dtype and ``correct = sum_n w_n hits_n``; a batch that weighs 0 gives ``(0.0, None,
    correct)``. Used by :func:`weighted_mean_step` and ``LogisticLoss._fused_step``."""
    correct = float(np.dot(sample_weight, hits))
    weight = float(np.sum(sample_weight, dtype=np.float64))
    if not weight > 0:
        return 0.0, None, correct
    scale = sample_weight / np.asarray(weight, dtype=sample_weight.dtype)
    return float(np.dot(sample_weight, losses)) / weight, scale, correct


def check_max_sample_loss(value: Any, where: str) -> float | None:
    """``max_sample_loss`` as a positive float, or None (no cap: None or inf, so that the
    configuration stays JSON).

    Example
    -------
    >>> check_max_sample_loss(0, "CrossEntropyLoss")
    Traceback (most recent call last):
    ...
    ValueError: CrossEntropyLoss: max_sample_loss must be a number > 0 or None; got 0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: max_sample_loss must be a number > 0 or None; got {value!r}")
    if not value > 0:  # NaN fails too
        raise ValueError(f"{where}: max_sample_loss must be a number > 0 or None; got {value!r}")
    return None if value == np.inf else float(value)

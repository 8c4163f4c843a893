"""What the loss layers share: the Loss base class (options, caching, the cotangent's scaling),
the training step's StepLoss, and the weighted mean of per-sample losses.

The layers: :class:`~softgrad.nn.cross_entropy_loss.CrossEntropyLoss`,
:class:`~softgrad.nn.nll_loss.NLLLoss`, :class:`~softgrad.nn.logistic_loss.LogisticLoss`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from softgrad.checks import as_array, as_real_float
from softgrad.kernels.losses import weighted_sum, weighted_total
from softgrad.nn.layer import Layer

_REDUCTIONS = ("mean", "sum", "none")


class StepLoss(NamedTuple):
    """What a training step needs from its loss, from :meth:`CrossEntropyLoss.forward_backward`.

    Attributes
    ----------
    loss : float, or ndarray of shape (N,) for ``reduction="none"``
        The batch's loss, as ``forward`` gives it (with ``sample_weight``: the weighted mean).
    grad : ndarray of the logits' shape and dtype, or None
        dL/dlogits, as ``backward()`` gives it; None when the batch weighs 0.
    correct : float
        The (weighted) count of samples whose argmax over the classes is the target.
    """

    loss: float | np.ndarray
    grad: np.ndarray | None
    correct: float


class Loss(Layer):
    """Base of the loss layers: ``forward(x, target) -> loss``, ``backward(grad_y=None)``.

    Handles option validation, caching and scaling by the cotangent ``grad_y`` of the loss.

    Examples
    --------
    >>> from softgrad.nn import NLLLoss
    >>> loss = NLLLoss(reduction="sum")
    >>> isinstance(loss, Loss), round(loss.forward(np.log([[0.5, 0.5], [0.25, 0.75]]), [0, 1]), 4)
    (True, 0.9808)
    >>> loss.backward()  # dL/dlogp: -1 at each target
    array([[-1.,  0.],
           [ 0., -1.]])
    """

    _cache_attrs = ("_input", "_target")  # the last forward's inputs, for backward

    if TYPE_CHECKING:  # a loss's forward takes the targets too, and is never a Sequential's step

        def forward(  # type: ignore[override]
            self, x: np.ndarray, target: np.ndarray
        ) -> float | np.ndarray: ...

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
        if weight is not None:  # a masked array refused: its hidden weights were applied
            weight = np.array(as_array(weight, where, "weight", fix="weight.filled(value)"))
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
        where = f"{type(self).__name__}.backward"
        grad_y = as_real_float(grad_y, where, "grad_y").astype(grad.dtype, copy=False)
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
        """JSON-safe constructor arguments (weight as a list of floats).

        Returns
        -------
        config : dict
            ``axis``, ``reduction``, ``weight`` and ``ignore_index`` (and the subclass's own).

        Examples
        --------
        >>> from softgrad.nn import CrossEntropyLoss
        >>> CrossEntropyLoss(weight=[1, 2], ignore_index=-100).get_config()["weight"]
        [1.0, 2.0]
        """
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


def target_weights(loss: Any, target: Any) -> np.ndarray | None:
    """What each sample counts for in the loss's 'mean' divisor, in float64 and ``target``'s
    shape: its target's class weight cw[y_n] (1 without class weights), 0 for a target the
    loss ignores (its ``ignore_index``); None where every sample counts 1 (no class weights
    and no ``ignore_index``, or probability targets: a float ``target``). Read from the loss
    as it is now (a callback may change it); trusts the targets (the loss checked them).

    The 'mean' of ``sample_weight`` w divides sum_n w_n l_n by sum_n w_n * target_weights_n
    (w_n = 1 without sample weights: PyTorch's rule), so unit weights are no weights and an
    integer weight is that many copies of the sample (scikit-learn's rule).

    Example
    -------
    >>> from softgrad.nn import CrossEntropyLoss
    >>> target_weights(CrossEntropyLoss(weight=[1.0, 2.0, 0.5], ignore_index=2), [0, 2, 1])
    array([1., 0., 2.])
    """
    weight = getattr(loss, "weight", None)
    ignore = getattr(loss, "ignore_index", None)
    target = np.asarray(target)
    if (weight is None and ignore is None) or target.dtype.kind not in "iu":
        return None
    kept = None if ignore is None else np.not_equal(target, ignore)
    if weight is None:
        assert kept is not None  # weight and ignore are not both None (above)
        return kept.astype(np.float64)
    class_weight = np.asarray(weight, dtype=np.float64)
    if kept is None:
        return class_weight[target]
    # an ignored target may lie outside the classes (-100): look up class 0 and count 0
    return np.multiply(class_weight[np.where(kept, target, 0)], kept)


def per_sample_losses(
    per_sample: Any, logits: np.ndarray, target: Any, shape: tuple[int, ...], where: str
) -> np.ndarray:
    """``per_sample.forward(logits, target)``, a copy of a loss layer set to reduction "none",
    as an array checked to hold one loss per sample (:func:`checked_per_sample`)."""
    return checked_per_sample(per_sample.forward(logits, target), shape, per_sample, where)


def checked_per_sample(
    losses: Any, shape: tuple[int, ...], per_sample: Any, where: str, needed_by: str = ""
) -> np.ndarray:
    """``losses``, what ``per_sample.forward`` returned with reduction "none", as an array
    of ``shape`` (one per sample: the targets' or the sample weights' shape). TypeError
    otherwise, naming the loss's class and the shape it returned (``needed_by``: what reads
    the losses, said in the message).

    A loss of the user's own whose forward ignores ``reduction`` gives its batch mean (one
    number): summed as N losses and divided by N, it made the validation loss N times too
    small, and trained sample weights on a number that weighs no sample, without a word."""
    losses = np.asarray(losses)
    if losses.shape != shape:
        hint = " (one number: a forward that ignores reduction)" if losses.ndim == 0 else ""
        raise TypeError(
            f"{where}: {type(per_sample).__name__}.forward must return one loss per sample, "
            f"of shape {shape}, when its reduction is 'none'{needed_by}; got shape "
            f"{losses.shape}{hint}"
        )
    return losses


def weighted_mean_step(
    per_sample: Loss,
    logits: np.ndarray,
    target: np.ndarray,
    sample_weight: np.ndarray,
    hits: np.ndarray,
    reduction: str = "mean",
    where: str = "fit",
) -> StepLoss:
    """A step's loss sum_n w_n l_n / sum_n w_n c_n from a ``reduction="none"`` loss (c_n its
    target's class weight, 0 if ignored: :func:`target_weights`), its gradient (each sample's
    scaled by w_n over that divisor) and the weighted count of ``hits``; the gradient is None
    when the batch weighs 0. For a loss whose ``reduction`` is "sum", the weighted sum
    sum_n w_n l_n and its gradient instead (unit weights: the loss's own sum); for "none",
    each sample's w_n l_n and the gradient of their sum (unit weights: the loss's own
    per-sample losses and gradient). The one place this weighted mean is written, for
    :meth:`CrossEntropyLoss.forward_backward` and the training step of any other loss.
    ``per_sample`` must give one loss per sample weight (:func:`per_sample_losses`; ``where``
    names the caller in its TypeError: fit's training step by default)."""
    losses = per_sample_losses(per_sample, logits, target, sample_weight.shape, where)
    if reduction == "none":
        # weighed sample by sample, not averaged: unit weights must give what no weights give
        weights = sample_weight.reshape(losses.shape)
        correct = float(np.dot(sample_weight.reshape(-1), hits.reshape(-1)))
        if not float(np.sum(weights, dtype=np.float64)) > 0:
            return StepLoss(np.zeros_like(losses), None, correct)
        # a sample of weight 0 takes no part, whatever its loss (weighted_total)
        weighted = np.zeros_like(losses)
        np.multiply(losses, weights, out=weighted, where=weights != 0)
        return StepLoss(weighted, per_sample.backward(weights), correct)
    summed = reduction == "sum"
    counts = None if summed else target_weights(per_sample, target)
    loss, scale, correct = weighted_mean(losses, sample_weight, hits, counts, summed)
    if scale is None:
        return StepLoss(0.0, None, correct)
    return StepLoss(loss, per_sample.backward(scale), correct)


def weighted_mean(
    losses: np.ndarray,
    sample_weight: np.ndarray,
    hits: np.ndarray,
    counts: np.ndarray | None = None,
    summed: bool = False,
) -> tuple[float, np.ndarray | None, float]:
    """The weighted mean of per-sample ``losses`` (any shape S, ``sample_weight`` and ``hits``
    alike): ``(sum_n w_n l_n / d, scale, correct)`` with the divisor ``d = sum_n w_n c_n``,
    ``counts`` c_n what each sample counts for in it (:func:`target_weights`; None: 1 each),
    ``scale = w / d`` (the factor of each sample's gradient) in the weights' dtype and
    ``correct = sum_n w_n hits_n``. ``summed``: the weighted sum instead (d = 1).

    A batch that weighs 0 (sum_n w_n = 0) gives ``(0.0, None, correct)``; one that weighs
    more but whose divisor is 0 (every target ignored, or of class weight 0) gives a loss of
    0 and a zero ``scale``, as the loss's own mean does without sample weights. Used by
    :func:`weighted_mean_step` and ``LogisticLoss._fused_step``."""
    weights = sample_weight.reshape(-1)
    correct = float(np.dot(weights, hits.reshape(-1)))
    weight = float(np.sum(weights, dtype=np.float64))
    if not weight > 0:
        return 0.0, None, correct
    if summed:
        return weighted_total(weights, losses), sample_weight, correct
    if counts is not None:
        weight = weighted_sum(weights, counts.reshape(-1))
        if not weight > 0:
            return 0.0, np.zeros_like(sample_weight), correct
    scale = sample_weight / np.asarray(weight, dtype=sample_weight.dtype)
    return weighted_total(weights, losses) / weight, scale, correct


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

"""CrossEntropyLoss: softmax and cross-entropy on logits in one kernel pair, with the fused
gradient ``softmax(logits) - target`` and the training step's one-kernel forward_backward."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np

from softgrad.checks import check_sample_weight, quiet_underflow
from softgrad.functional._targets import check_label_smoothing
from softgrad.functional.cross_entropy_loss import Problem, RowLosses, row_grad, row_losses
from softgrad.kernels import FUSED_DTYPES, get_ops
from softgrad.nn.layer import check_input_grad
from softgrad.nn.loss import (
    Loss,
    StepLoss,
    check_max_sample_loss,
    ignored_misses,
    target_weights,
    weighted_mean,
    weighted_mean_step,
)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, with the fused gradient ``softmax(logits) - target``.

    Semantics are those of :func:`softgrad.functional.cross_entropy` (PyTorch's
    ``cross_entropy``): class-index or class-probability targets, class ``weight``,
    ``ignore_index``, ``label_smoothing`` and ``reduction``.

    Parameters
    ----------
    axis : int, default -1
        The class axis of the logits.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides the per-sample losses' sum by sum_n cw[y_n] over the targets not
        ignored (the count without class weights; PyTorch's rule), and with sample weights
        (``forward_backward``, ``fit``) sum_n w_n l_n by sum_n w_n cw[y_n].
    weight : array-like of shape (C,), optional
        Non-negative class weights cw.
    ignore_index : int, optional
        Class-index target value that contributes neither loss nor gradient. None (the
        default) ignores nothing: torch's default, -100, is refused here as a class index
        out of range; pass ``ignore_index=-100`` for torch's.
    label_smoothing : float in [0, 1], default 0.0
    max_sample_loss : float > 0, optional
        Each sample's loss (what ``reduction="none"`` gives) is reported as at most this before
        the reduction; the gradient is not changed. scikit-learn's MLPClassifier reports its
        loss so (its log_loss clips probabilities at the dtype's eps: at most -log(eps) a
        sample), and softgrad's estimator sets it to match. None (default) or inf: no cap.

    Notes
    -----
    ``forward`` validates as :func:`softgrad.functional.cross_entropy` does and calls the same
    softmax-cross-entropy kernel (:mod:`softgrad.kernels.losses`), keeping e = exp(logits -
    shift) and its row sums; ``backward`` is then one pass over e, with no second exp. Loss and
    gradient are those of :func:`~softgrad.functional.cross_entropy` and
    :func:`~softgrad.functional.cross_entropy_grad`, bit for bit (the same code path).

    Examples
    --------
    >>> loss = CrossEntropyLoss()
    >>> round(loss.forward(np.array([[0.0, 0.0]]), np.array([0])), 6)  # -log(1/2)
    0.693147
    >>> loss.backward()  # softmax - onehot = [0.5 - 1, 0.5]
    array([[-0.5,  0.5]])
    """

    _cache_attrs = ("_problem", "_losses")  # the last forward, for backward

    def __init__(
        self,
        *,
        axis: int = -1,
        reduction: str = "mean",
        weight: Any = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        max_sample_loss: float | None = None,
    ) -> None:
        super().__init__(axis, reduction, weight, ignore_index)
        self.max_sample_loss = check_max_sample_loss(max_sample_loss, "CrossEntropyLoss")
        self.label_smoothing = check_label_smoothing(label_smoothing, "CrossEntropyLoss")
        self._problem: Problem | None = None  # the validated call: layout, targets, options
        # per-row losses and the kernel's cache: e = exp(logits - shift), its row sums, targets
        self._losses: RowLosses | None = None

    def _options(self) -> dict[str, Any]:
        return {
            **super()._options(),
            "label_smoothing": self.label_smoothing,
            "max_sample_loss": self.max_sample_loss,
        }

    @quiet_underflow
    def forward(  # type: ignore[override]  # takes the targets too, as every loss does (Loss)
        self, logits: np.ndarray, target: np.ndarray
    ) -> float | np.ndarray:
        """Loss of ``logits`` (shape S, classes along ``axis``) against ``target``.

        Parameters
        ----------
        logits : ndarray of shape (N, C) (or any shape S with C along ``axis``)
        target : ndarray of int of shape S without ``axis``, or of float of shape S

        Returns
        -------
        float, or ndarray of shape S without ``axis`` for ``reduction="none"``
        """
        p = Problem(
            logits,
            target,
            self.axis,
            self.reduction,
            self.weight,
            self.ignore_index,
            self.label_smoothing,
            "CrossEntropyLoss",
        )
        losses = row_losses(p, np.empty_like(p.rows.x))
        self._problem, self._losses = p, losses
        per_row = losses.loss
        if self.max_sample_loss is not None:
            per_row = np.minimum(per_row, self.max_sample_loss)
        return self._result(p.reduce(per_row, losses.divisor))

    # None only for input_grad=False: a type checker then takes model.backward(loss.backward())
    @overload
    def backward(self, grad_y: Any = None, input_grad: Literal[True] = True) -> np.ndarray: ...
    @overload
    def backward(self, grad_y: Any = None, input_grad: bool = True) -> np.ndarray | None: ...
    @quiet_underflow
    def backward(self, grad_y: Any = None, input_grad: bool = True) -> np.ndarray | None:
        """dL/dlogits, times ``grad_y`` (scalar, or per-sample for ``reduction="none"``).

        Returns
        -------
        grad_logits : ndarray of the logits' shape and dtype (None if ``input_grad`` is False)
        """
        if type(input_grad) is not bool:
            check_input_grad(input_grad, self)
        p = self._check_forward_done(self._problem)
        if not input_grad:
            return None
        rows = row_grad(p, self._check_forward_done(self._losses), out=np.empty_like(p.rows.x))
        grad = np.ascontiguousarray(p.rows.restore(rows))
        if grad.dtype != p.rows.out_dtype:
            grad = grad.astype(p.rows.out_dtype)
        return self._scale(grad, grad_y)

    def forward_backward(
        self, logits: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> StepLoss:
        """Loss, dL/dlogits and the correct predictions of one batch: a training step's loss.

        Parameters
        ----------
        logits : ndarray of shape (N, C) (or any shape S with C along ``axis``)
        target : ndarray of int of shape (N,) (S without ``axis``), or of float of shape S
        sample_weight : ndarray of shape (N,), optional
            Per-sample weights w_n: the loss is sum_n w_n l_n / sum_n w_n cw[y_n] of the
            per-sample losses l_n (``reduction="none"``), cw[y_n] the target's class weight (1
            without ``weight``, 0 for an ignored target; 1 for probability targets): the
            mean's divisor without sample weights, weighted, so unit weights give what no
            weights give. The gradient is that mean's, the count weighted (class weights do not
            enter it). For reduction "sum": sum_n w_n l_n and its gradient; for "none": each
            sample's w_n l_n and the gradient of their sum. Finite and >= 0, one per sample
            (logits' shape without ``axis``): else a ValueError (a TypeError for non-numbers).

        Returns
        -------
        StepLoss
            ``loss`` and ``grad`` as ``forward`` then ``backward()`` (or, with weights, the
            per-sample losses' weighted mean and its gradient) give them; ``correct`` the
            (weighted) number of samples whose argmax over ``axis`` is the target.

        Notes
        -----
        One kernel call does it all (``softmax_cross_entropy_mean_correct``: one pass in the
        Numba lane) for what a training step usually has: reduction "mean", no class weights or
        label smoothing, (N, C) float32/float64 logits and class-index targets, with or
        without sample weights, ``ignore_index`` (inside the classes or not, as torch's -100)
        and ``max_sample_loss``, each or together. A sample whose target is ``ignore_index``
        then counts in neither the loss, its (weighted) divisor nor ``correct``; a batch
        whose kept samples weigh 0 has a loss of 0 and a zero gradient (None if the whole
        batch weighs 0), as the separate passes give. Every other case runs ``forward``,
        ``backward`` and an argmax, with the same results. The loss and the gradient are those
        of ``forward`` and ``backward`` to a few roundings of the dtype, not bit for bit (the
        kernel sums in another order). The layer keeps nothing for ``backward``.

        Examples
        --------
        >>> step = CrossEntropyLoss().forward_backward(np.array([[0.0, 1.0]]), np.array([1]))
        >>> round(step.loss, 6), step.grad.round(4), step.correct  # -log(e / (1 + e))
        (0.313262, array([[ 0.2689, -0.2689]]), 1.0)
        """
        if sample_weight is not None:
            sample_weight = _checked_sample_weight(sample_weight, logits, self.axis)
        if self._fuses(logits, target, sample_weight):
            step = self._fused_step(logits, target, sample_weight, np.empty_like(logits))
            if sample_weight is not None and not np.sum(sample_weight, dtype=np.float64) > 0:
                # a batch that weighs 0 has no gradient (StepLoss), as the separate passes say
                return step._replace(grad=None)
            return step
        return self._separate_passes(logits, target, sample_weight)

    def _fused_step(
        self, logits: np.ndarray, target: np.ndarray, sample_weight: Any, grad: np.ndarray
    ) -> StepLoss:
        """The one-kernel path of :meth:`forward_backward`, the gradient written into
        ``grad`` (logits' shape and dtype, C-contiguous), trusting that :meth:`_fuses` holds
        (softgrad.training.step_plan calls this with its own ``grad``)."""
        try:
            loss, correct = get_ops().softmax_cross_entropy_mean_correct(
                logits, target, grad, sample_weight, self.ignore_index
            )
        except IndexError:  # a target out of range: the validated path says which
            return self._separate_passes(logits, target, sample_weight)
        loss = self._capped(loss, logits, target, sample_weight, grad)
        # the loss in the logits' dtype, as forward gives it
        return StepLoss(float(logits.dtype.type(loss)), grad, correct)

    def _capped(
        self, loss: Any, logits: np.ndarray, target: np.ndarray, sample_weight: Any, grad: Any
    ) -> Any:
        """The kernel's mean ``loss``, or forward's capped mean where a sample's loss may pass
        ``max_sample_loss`` (:meth:`_may_pass_cap`), computed on a copy (the layer keeps
        nothing for backward here)."""
        if self.max_sample_loss is None or not self._may_pass_cap(
            logits, target, sample_weight, grad
        ):
            return loss
        if sample_weight is None:
            return copy.copy(self).forward(logits, target)
        losses = np.asarray(self._per_sample().forward(logits, target))  # reduction="none"
        counts = target_weights(self, target)
        no_hits = np.zeros(len(target), bool)
        return weighted_mean(losses, sample_weight, no_hits, counts)[0]

    def _binds_plain_step(self) -> bool:
        """Whether :meth:`_bind_fused_step`'s call is this loss's step now: no ignored target
        (softgrad.training.bound_step asks before each batch). A cap is read at each call."""
        return self.ignore_index is None

    def _bind_fused_step(
        self, logits: np.ndarray, target: np.ndarray, grad: np.ndarray
    ) -> Callable[[], StepLoss]:
        """:meth:`_fused_step` of these arrays without sample weights, as one call bound now
        (the kernel seam's ``bind_softmax_cross_entropy_mean_correct``), valid while
        :meth:`_binds_plain_step` holds."""
        kernel = get_ops().bind_softmax_cross_entropy_mean_correct(logits, target, grad)
        cast = logits.dtype.type

        def run() -> StepLoss:
            try:
                loss, correct = kernel()
            except IndexError:  # a target out of range: the validated path says which
                return self._separate_passes(logits, target, None)
            if self.max_sample_loss is not None:  # scikit-learn's reported loss (the estimator)
                loss = self._capped(loss, logits, target, None, grad)
            return StepLoss(float(cast(loss)), grad, correct)  # in the logits' dtype

        return run

    def _may_pass_cap(
        self, logits: np.ndarray, target: np.ndarray, sample_weight: Any, grad: np.ndarray
    ) -> bool:
        """Whether a row's loss may pass ``max_sample_loss`` (NaN rows keep the kernel's NaN).

        A row's loss passes the cap c only where its p_y < q = exp(-c). Without weights the
        target entries are the gradient's only negative ones, r (p_y - 1) with r >= 1 / N, so
        a min over the gradient tells (with 4 roundings of margin): 2 us at 200 x 10, where
        the logits' bound below took 16. With weights each row's loss is bounded by
        max(logits) - logits[y] + log(C), over the rows not ignored (an ignored target may lie
        outside the classes, as torch's -100, and its row has no loss to cap).
        """
        cap = self.max_sample_loss
        assert cap is not None  # forward asks only when a cap is set
        if sample_weight is None:
            q = math.exp(-cap)
            margin = 1.0 - 4.0 * float(np.finfo(grad.dtype).eps)
            return bool(grad.min() < (q - 1.0) * margin / len(grad))
        kept = None if self.ignore_index is None else target != self.ignore_index
        if kept is not None:
            target = np.where(kept, target, 0)  # an ignored row reads class 0, then is dropped
        # fancy indexing and the array methods: the check 95 -> 36 us at 128 x 10 float32 against
        # take_along_axis and np.max (a busy 2-core host)
        picked = logits[np.arange(len(target)), target]
        passes = logits.max(axis=1) - picked > cap - math.log(logits.shape[1])
        if kept is not None:
            passes &= kept
        return bool(passes.any())

    def _fuses(self, logits: Any, target: Any, sample_weight: Any) -> bool:
        """Whether :meth:`forward_backward` takes the one-kernel path (see its Notes)."""
        return (
            self._fuses_settings(sample_weight)
            and type(logits) is np.ndarray
            and logits.ndim == 2
            and logits.dtype in FUSED_DTYPES
            and logits.flags.c_contiguous
            and type(target) is np.ndarray
            and target.shape == logits.shape[:1]
            and target.dtype.kind in "iu"
        )

    def _fuses_settings(self, sample_weight: Any) -> bool:
        """The settings part of :meth:`_fuses`: reduction "mean", no class weights or label
        smoothing, an axis of -1 or 1; sample weights and ``ignore_index`` each or together
        (the kernel leaves an ignored row out of the weighted mean, its divisor and
        ``correct``). ``sample_weight`` is there for the loss layers' common signature
        (softgrad.training.step_plan asks before each step)."""
        return (
            self.reduction == "mean"
            and self.weight is None
            and self.label_smoothing == 0.0
            and self.axis in (-1, 1)
        )

    def _separate_passes(
        self, logits: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None
    ) -> StepLoss:
        """forward_backward as forward, backward and an argmax."""
        if sample_weight is None:
            loss = self.forward(logits, target)
            hits = _hits(logits, target, self)
            return StepLoss(loss, self.backward(), float(np.count_nonzero(hits)))
        hits = _hits(logits, target, self)
        return weighted_mean_step(
            self._per_sample(),
            logits,
            target,
            sample_weight,
            hits,
            self.reduction,
            where=f"{type(self).__name__}.forward_backward",
        )

    def _per_sample(self) -> CrossEntropyLoss:
        """A copy of this layer with reduction "none" (its other settings, the cap included)."""
        per_sample = copy.copy(self)
        per_sample.reduction = "none"
        return per_sample


def _checked_sample_weight(sample_weight: Any, logits: Any, axis: int) -> np.ndarray:
    """``sample_weight`` checked against ``logits`` (one weight per sample: its shape without
    ``axis``). The one-kernel path trusts its weights: one short array was read past its end,
    an inf weight left the gradient unwritten.

    Example
    -------
    >>> _checked_sample_weight([1.0, 2.0, 3.0], np.zeros((2, 4)), -1)
    Traceback (most recent call last):
    ...
    ValueError: CrossEntropyLoss.forward_backward: sample_weight must have shape (2,), one weight per sample; got shape (3,)
    """  # noqa: E501
    shape = np.shape(logits)
    per_sample = None
    if shape:
        axis %= len(shape)
        per_sample = shape[:axis] + shape[axis + 1 :]
    return check_sample_weight(sample_weight, per_sample, "CrossEntropyLoss.forward_backward")


def _hits(logits: np.ndarray, target: np.ndarray, loss: CrossEntropyLoss) -> np.ndarray:
    """Where the argmax over the loss's class axis is the target (for class probabilities:
    their argmax); never at an ignored target, as in the fused kernel."""
    logits, target = np.asarray(logits), np.asarray(target)
    if target.shape == logits.shape:
        return np.argmax(logits, axis=loss.axis) == np.argmax(target, axis=loss.axis)
    return ignored_misses(np.argmax(logits, axis=loss.axis) == target, target, loss)

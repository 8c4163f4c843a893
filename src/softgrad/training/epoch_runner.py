"""The batch loop of :func:`~softgrad.training.fit`: :class:`EpochRunner` trains one epoch over
its mini-batches and sums them up in an :class:`EpochResult`.

The batch step is a handful of BLAS calls plus fused passes. Everything a naive loop allocates
per step is allocated once: the gathered batch (``np.take(..., out=, mode="clip")``, or a CSR
batch densified into the same buffer), its labels and weights, the prediction and hit buffers.
The final short batch is a view of the front of each buffer. The loss, its gradient and the
batch's hits come from one call (the loss's ``forward_backward``: one kernel pass for
CrossEntropyLoss), with no separate argmax. The loss is checked BEFORE the model's backward,
so a non-finite loss leaves the weights of the last completed step. The gradients stay where
the model keeps them (one flat buffer for a Sequential: ``model.named_grads()``), read between
backward and the optimizer step; SGD's trusted steps fold them into its update instead
(:mod:`softgrad.training.folded_step`).

What an epoch records around this loop (validation, history, early stopping, the schedule, the
callbacks' logs) is :mod:`softgrad.training.epoch`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softgrad.checks.overrides import inherits
from softgrad.errors import DivergenceError
from softgrad.kernels import get_ops
from softgrad.nn.layer import overridden_below, replaced_methods
from softgrad.nn.loss import StepLoss, ignored_misses, weighted_mean_step
from softgrad.optim.optimizer import step_in_guard
from softgrad.training.callbacks import CallbackList, TrainState
from softgrad.training.data import (
    counted_weight,
    gather_rows,
    loss_reduction,
    per_sample_loss,
    predicted_classes,
    step_loss,
)
from softgrad.training.divergence import DivergenceMonitor
from softgrad.training.epoch_result import EpochResult
from softgrad.training.evaluation import evaluate
from softgrad.training.step_plan import StepPlan
from softgrad.training.trusted_step import TrustedStep

__all__ = ["EpochRunner"]


class EpochRunner:
    """Preallocated batch buffers and the training step of one :func:`fit` run.

    Parameters
    ----------
    model, loss, optimizer : objects
        A Sequential (forward, backward(grad, input_grad=False), named_params, named_grads), a
        loss layer with forward(logits, target) / backward(), an optimizer with step.
    X : ndarray or CSR matrix of shape (N, D)
        Training inputs in the model's dtype (a dense array is C-contiguous).
    target : ndarray of shape (N,), intp
    sample_weight : ndarray of shape (N,) or None
        Non-negative weights in the model's dtype.
    batch_size : int
    l2_penalty : float
        scikit-learn's ``alpha`` on the weight matrices (parameters named ``W``), or 0.
    """

    # a callback's stop ends the epoch at once; a data-parallel runner shares it first
    stops_alone = True

    def __init__(self, model, loss, optimizer, X, target, sample_weight, batch_size, l2_penalty):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.X, self.target, self.sample_weight = X, target, sample_weight
        self.batch_size = batch_size
        size = min(batch_size, X.shape[0])
        self.x_buf = np.empty((size, *X.shape[1:]), dtype=X.dtype)
        self.t_buf = np.empty(size, dtype=target.dtype)
        self.pred_buf = np.empty(size, dtype=np.intp)
        self.hit_buf = np.empty(size, dtype=bool)
        self.w_buf = None if sample_weight is None else np.empty(size, dtype=sample_weight.dtype)
        if sample_weight is not None:  # refuse a loss that cannot weigh its samples, up front
            per_sample_loss(loss, "fit")
        self.l2_penalty = float(l2_penalty)
        self._adopt(model.named_params())
        self.divergence = DivergenceMonitor()  # the rule: softgrad.training.divergence
        self.epoch_complete = True  # whether the last epoch ran every batch (train_epoch)
        # a plain MLP under cross-entropy (or one logistic output) steps through one plan
        # (training.step_plan), with or without sample weights
        self.plan = self._new_plan()

    def _adopt(self, params: Any, after_batch: int | None = None) -> None:
        """Take ``params`` as the parameters the steps update, with their snapshot (their
        values now: what a diverged epoch puts back; taken at the epoch's start, or after
        batch ``after_batch`` where a callback changed the network) and the L2 penalty's
        scratch."""
        self.params = params
        self.snapshot = {name: value.copy() for name, value in params.items()}
        self.snapshot_after = after_batch
        self.penalized = [name for name in params if name.rsplit(".", 1)[-1] == "W"]
        self.penalty_scratch = {name: np.empty_like(params[name]) for name in self.penalized}

    def _params_of(self, grads: Any, batch: int) -> Any:
        """The parameters of the store ``grads`` belongs to: :attr:`params`, or the network's
        new ones where a callback replaced its store before batch ``batch`` (a layer swapped,
        ``astype``); the snapshot a diverged epoch puts back is then theirs as they are."""
        if getattr(grads, "store", None) is not getattr(self.params, "store", None):
            self._adopt(self.model.named_params(), after_batch=batch - 1)
        return self.params

    def _new_plan(self) -> StepPlan | None:
        size = self.x_buf.shape[0]
        plan = StepPlan.build(self.model, self.loss, self.x_buf.dtype, size, self.sample_weight)
        if plan is not None:  # full batches are gathered into the buffers themselves (_gather)
            plan.bind(self.x_buf, self.t_buf)
        return plan

    @property
    def loss_is_sum(self) -> bool:
        """Whether the loss returns a batch total (reduction "sum") rather than a batch average.

        Read at every step, as the step plan reads the loss's settings (``StepPlan.ready``):
        a callback that changes the loss between two batches is honoured at the next one on
        either route, and a reduction fit does not train with is refused there too."""
        return loss_reduction(self.loss) == "sum"

    def n_batches(self, n_samples: int) -> int:
        return -(-n_samples // self.batch_size)

    def run(self, order: np.ndarray, state: TrainState, callbacks: CallbackList) -> EpochResult:
        """Train one epoch over the samples ``X[order]``, in mini-batches of that order.

        Each batch goes through :meth:`_batch_step`; a callback's stop ends the epoch after
        its batch (a data-parallel runner agrees on it with the other ranks first), and
        ``result.complete`` then says whether every batch had run.
        """
        params = self.model.named_params()  # the network may have changed between epochs
        if getattr(params, "store", None) is getattr(self.params, "store", None):
            for name, value in self.params.items():
                np.copyto(self.snapshot[name], value)
            self.snapshot_after = None
        else:
            self._adopt(params)
        self.plan = self._new_plan()
        self.divergence.start_epoch(len(order))
        result = EpochResult()
        batch_hooks = callbacks.has_batch_hooks
        step = self._batch_step()
        may_trust = self._may_trust(step, callbacks)
        reads_grads = callbacks.batch_hooks_read_grads  # False without batch hooks
        trusted = None
        self.stop_requested = False
        done = 0
        try:
            for batch, start in enumerate(range(0, len(order), self.batch_size), start=1):
                idx = order[start : start + self.batch_size]
                if trusted is not None and len(idx) == trusted.rows:
                    stepped = trusted(idx, batch)
                else:
                    stepped = step(idx, state.epoch, batch)
                    if may_trust and batch == 1:
                        trusted = TrustedStep.build(self, state.epoch, len(order), reads_grads)
                if stepped is None:  # every rank agreed to stop before this batch
                    self.stop_requested = True
                    break
                result.add(*stepped)
                done = batch
                if batch_hooks:
                    state.batch = batch
                    state.logs = {"loss": stepped[0], "batch_size": len(idx)}
                    self.stop_requested = bool(callbacks.call("on_batch_end", state))
                    if self.stop_requested and self.stops_alone:
                        break
        finally:
            if trusted is not None:
                trusted.close()
        state.batch = done  # the epoch's last batch, for on_epoch_end, with batch hooks or not
        result.stopped = self.stop_requested
        result.complete = done == self.n_batches(len(order))
        return result

    def _may_trust(self, step: Any, callbacks: CallbackList) -> bool:
        """Whether the full-size batches after a checked step may skip the checks between
        batches (:mod:`softgrad.training.trusted_step`): nothing between two batches could
        change training (no batch hook, or only hooks that say they read), and the step is
        this class's own, every part of it (a subclass's step is always its own)."""
        return (
            (not callbacks.has_batch_hooks or callbacks.batch_hooks_read_only)
            and step == self._step
            # what TrustedStep does in place of the runner's own: a subclass that wrote any
            # of them keeps its own step at every batch
            and inherits(self, EpochRunner, "_step", "_gather", "_forward_loss", "_backward")
        )

    def _batch_step(self) -> Any:
        """The step :meth:`run` takes per batch: ``step(idx, epoch, batch)`` returns the batch's
        ``(loss, weight, hits, counted)`` (:meth:`EpochResult.add`), or None when training
        stops before the batch (the hook a data-parallel runner overrides with its
        collective)."""
        return self._weighted_step if self.sample_weight is not None else self._step

    def callback_list(self, callbacks: Any) -> CallbackList:
        """The callbacks of a run, as :func:`fit` calls them."""
        return CallbackList(callbacks)

    def evaluate(self, model: Any, X: Any, y: Any, loss: Any, sample_weight: Any) -> Any:
        """The validation figures ``(loss, accuracy)`` after an epoch."""
        return evaluate(model, X, y, loss, sample_weight=sample_weight)

    def _gather(
        self, idx: np.ndarray, into: np.ndarray | None = None, take: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The batch ``idx``: its inputs and targets. A full batch fills the buffers themselves,
        which the plan's bound step is bound to (the inputs ``into`` instead, if given: another
        buffer of ``x_buf``'s shape, as the trusted steps take two in turns), through ``take``
        where given: the inputs' gather bound to that buffer (``data.bind_gather_rows``)."""
        n = len(idx)
        full = n == len(self.x_buf)
        inputs = self.x_buf if into is None else into
        if take is not None and full:
            x = take(idx)
        else:
            x = gather_rows(self.X, idx, inputs if full else inputs[:n])
        # mode="clip" skips numpy's bounds-checking buffered path (2.6x faster); idx is valid
        t = np.take(self.target, idx, out=self.t_buf if full else self.t_buf[:n], mode="clip")
        return x, t

    def _hits(self, logits: np.ndarray, t: np.ndarray) -> np.ndarray:
        n = len(t)
        pred = predicted_classes(logits, self.pred_buf[:n])
        hits = np.equal(pred, t, out=self.hit_buf[:n])
        return ignored_misses(hits, t, self.loss)

    def _penalize(self, grads: dict, weight_sum: float) -> float:
        """scikit-learn's L2 term: grad_W += alpha W / sum(w); returns its loss term."""
        scale = self.l2_penalty / weight_sum
        ops = get_ops()
        return sum(
            ops.l2_penalty(self.params[name], grads[name], scale, self.penalty_scratch[name])
            for name in self.penalized
        )

    def _loss_step(self, logits: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> StepLoss:
        """The batch's loss, dL/dlogits and hits: the loss's ``forward_backward`` where it has
        one (CrossEntropyLoss: one kernel call) and no ``forward`` or ``backward`` set on the
        instance, else forward, backward and the argmax."""
        forward_backward = getattr(self.loss, "forward_backward", None)
        # a forward or backward hooked on the instance, or a subclass's own, runs:
        # forward_backward would skip it (and train the base class's loss)
        if (
            forward_backward is not None
            and not replaced_methods(self.loss)
            and not overridden_below(self.loss, "forward_backward")
        ):
            return forward_backward(logits, t, w)
        hits = self._hits(logits, t)
        if w is None:
            loss = self.loss.forward(logits, t)
            return StepLoss(loss, self.loss.backward(), float(np.count_nonzero(hits)))
        # a reduction-"none" copy of the loss as it is now: a copy made once would keep the
        # settings of the first batch (the plan reads the loss's own at every step)
        per_sample = per_sample_loss(self.loss, "fit")
        return weighted_mean_step(per_sample, logits, t, w, hits, self.loss.reduction, where="fit")

    def _forward_loss(
        self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None
    ) -> tuple[StepLoss, int, StepPlan | None]:
        """The batch's loss step (:meth:`_loss_step`), the width of the logits and the plan
        that ran it: the step plan when it still fits, else the public forward."""
        plan = self._ready_plan()
        if plan is not None:
            return plan.forward_loss(x, t, w), plan.n_classes, plan
        logits = self.model.forward(x)
        return self._loss_step(logits, t, w), logits.shape[-1], None

    def _backward(self, plan: StepPlan | None, grad_logits: np.ndarray) -> Any:
        """The model's backward, by the route its forward took (``plan`` from
        :meth:`_forward_loss`); returns the gradients."""
        if plan is not None:
            plan.backward(grad_logits)
            return plan.grads
        self.model.backward(grad_logits, input_grad=False)
        return self.model.named_grads()

    def _step(self, idx: np.ndarray, epoch: int, batch: int) -> tuple[float, float, float, float]:
        x, t = self._gather(idx)
        n = len(idx)
        step, n_classes, plan = self._forward_loss(x, t, None)
        loss = step_loss(step)
        batch_loss = loss / n if self.loss_is_sum else loss
        reason = self.divergence.check(batch_loss, n, n, n_classes)
        if reason is not None:
            self._diverged(reason, batch_loss, epoch, batch)
        assert step.grad is not None  # None only for a batch that weighs 0 (sample weights)
        grads = self._backward(plan, step.grad)
        params = self._params_of(grads, batch)
        if self.l2_penalty:
            batch_loss += self._penalize(grads, n)
        step_in_guard(self.optimizer, params, grads)
        return batch_loss, n, step.correct, counted_weight(self.loss, t, None, n)

    def _ready_plan(self) -> StepPlan | None:
        """The step plan, rebuilt if the network or the loss changed since (a callback between
        batches), or None: the public forward and backward then run."""
        plan = self.plan
        if plan is not None and not plan.ready():
            plan = self.plan = self._new_plan()
        return plan

    def _weighted_step(
        self, idx: np.ndarray, epoch: int, batch: int
    ) -> tuple[float, float, float, float]:
        x, t = self._gather(idx)
        w = self.w_buf[: len(idx)]
        np.take(self.sample_weight, idx, out=w, mode="clip")
        weight = float(np.sum(w, dtype=np.float64))
        step, n_classes, plan = self._forward_loss(x, t, w)
        batch_loss = step_loss(step) if weight > 0 else 0.0
        if self.loss_is_sum and weight > 0:  # reported per unit of weight, as _step does
            batch_loss /= weight
        reason = self.divergence.check(batch_loss, weight, len(idx), n_classes)
        if reason is not None:
            self._diverged(reason, batch_loss, epoch, batch)
        if weight > 0:  # a batch that weighs nothing moves no weight
            assert step.grad is not None  # (it has a gradient)
            grads = self._backward(plan, step.grad)
            params = self._params_of(grads, batch)
            if self.l2_penalty:
                batch_loss += self._penalize(grads, weight)
            step_in_guard(self.optimizer, params, grads)
        return batch_loss, weight, step.correct, counted_weight(self.loss, t, w, weight)

    def restore_epoch_start(self, epoch: int) -> str:
        """Put back the weights epoch ``epoch`` started from (its one snapshot), in place;
        returns what the model keeps, for a message. Where a callback changed the network's
        store during the epoch, the snapshot is of the new store's weights as the callback
        left them, and the network changed after the last step keeps them as they are."""
        params = self.model.named_params()
        if getattr(params, "store", None) is not getattr(self.params, "store", None):
            return "the weights a callback gave it (changing the network) after its last step"
        for name, value in self.params.items():
            np.copyto(value, self.snapshot[name])
        if self.snapshot_after is None:
            return f"the weights at the start of epoch {epoch}"
        return (
            f"the weights a callback gave it after batch {self.snapshot_after} (changing the "
            "network)"
        )

    def _diverged(self, reason: str, batch_loss: float, epoch: int, batch: int) -> None:
        kept = (
            f"the weights after batch {batch - 1}"
            if batch > 1
            else f"the weights at the start of epoch {epoch}"
        )
        # an exploding loss makes every step of the epoch suspect (training.divergence)
        exploded = math.isfinite(batch_loss) or self.divergence.exploding()
        if exploded or not all(np.isfinite(value).all() for value in self.params.values()):
            # the last step overflowed the weights themselves: fall back to the epoch's start
            kept = self.restore_epoch_start(epoch)
        raise DivergenceError(
            f"fit: {reason} at epoch {epoch}, batch {batch}. Training diverged: try a lower "
            f"learning rate (now "
            f"{self.optimizer.lr!r}). The model keeps {kept}.",
            epoch=epoch,
            batch=batch,
            reason=reason,
        )

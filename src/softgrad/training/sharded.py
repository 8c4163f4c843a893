"""The batch loop of data-parallel :func:`~softgrad.training.fit`: each rank trains on its shard of
every global batch, and the ranks sum their gradients before the same optimizer step.

One step on each rank (``comm`` a :class:`~softgrad.training.distributed.Communicator`):

1. take the rank's contiguous shard of the global batch (every rank drew the same order);
2. forward, loss and backward on the shard (through the step plan,
   :mod:`softgrad.training.step_plan`, where it fits, as in the single-process loop), the loss
   gradient scaled by the shard's share of the batch: the loss's mean divisor over the shard
   over that over the batch, sum w_n cw[y_n] over the targets not ignored (w the sample
   weights, cw the loss's class weights, 1 without them): n_local / n_global without either.
   Every rank holds all targets and weights, so the global sums need no message;
3. one Allreduce of a float64 status: the shard's part of the batch loss, its hits, the weight
   of its targets that accuracy counts (all but those the loss ignores), a failure flag and a
   stop flag (a callback asked to stop after the previous batch). A failure raises on
   every rank; the divergence rule (:mod:`softgrad.training.divergence`) sees the same global
   batch loss on every rank, so a diverged run raises the same DivergenceError on every rank
   before any weight moves;
4. one in-place Allreduce(SUM) of the gradient (the store's flat buffer for a Sequential, which
   the plan's backward writes too), then
   the L2 penalty (scikit-learn's alpha, divided by the global batch's weight) added once to the
   summed gradient, and the optimizer step, the same on every rank.

One rank has nothing to sum and nobody to agree with between batches: it runs the plain loop's
own step (:class:`~softgrad.training.epoch_runner.EpochRunner`'s, trusted and with SGD's
gradient folded into its update as there), so the result equals a plain fit's bit for bit.
What the ranks do around the batches (start, end of epoch,
checkpoint, failing together) is in :mod:`softgrad.training.together`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.nn.loss import per_sample_losses
from softgrad.optim.optimizer import step_in_guard
from softgrad.training.callbacks import CallbackList, TrainState
from softgrad.training.data import (
    counted_weight,
    mean_divisor,
    output_width,
    per_sample_loss,
    step_loss,
)
from softgrad.training.distributed import Communicator, shard_bounds
from softgrad.training.epoch_runner import EpochRunner
from softgrad.training.evaluation import evaluation_figures, evaluation_sums

# the status each step sums over the ranks
_LOSS, _HITS, _COUNTED, _FAILED, _STOP = range(5)


class ShardedRunner(EpochRunner):
    """:class:`~softgrad.training.epoch_runner.EpochRunner` for one rank of a data-parallel fit.

    Parameters
    ----------
    comm : Communicator
    model, loss, optimizer, X, target, sample_weight, batch_size
        As for EpochRunner; ``X``, ``target`` and ``sample_weight`` are the whole training set
        (the same on every rank), ``batch_size`` the global batch.
    """

    # a callback's stop on one rank is summed into the next step's status, so all stop together
    stops_alone = False

    def __init__(self, comm: Communicator, *args: Any) -> None:
        super().__init__(*args)
        self.comm = comm
        self.status = np.zeros(5, dtype=np.float64)
        self.stop_requested = False
        self.n_outputs = output_width(self.model) or int(self.target.max()) + 1
        # one rank steps as a plain fit does (_batch_step), so a callback's stop ends its
        # epoch at once, as there
        self.stops_alone = comm.size == 1

    def _batch_step(self) -> Any:
        """EpochRunner.run's step: one global batch, with the collectives (every rank stops
        together when any rank's callback asked to); one rank's is the plain loop's own.

        One rank's collectives would sum nothing, and the plain step lets EpochRunner.run
        trust its full batches and fold SGD's gradient into the update
        (:mod:`softgrad.training.trusted_step`), which rounds otherwise than the update from a
        written gradient: with this step one rank differed from a plain fit with SGD. What
        the ranks do around the batches (the checks after each epoch, rank 0's checkpoint)
        is :mod:`softgrad.training.together`'s either way.
        """
        if self.comm.size == 1:
            return super()._batch_step()
        return self._sharded_step

    def callback_list(self, callbacks: Any) -> CallbackList:
        """The callbacks; on several ranks, their errors deferred to the next collective
        (:class:`_DeferErrors`)."""
        if self.comm.size == 1:
            return super().callback_list(callbacks)
        return _DeferErrors(self.comm, callbacks)

    def evaluate(self, model: Any, X: Any, y: Any, loss: Any, sample_weight: Any) -> Any:
        """The validation figures, each rank scoring its contiguous shard (see
        :func:`sharded_evaluate`); one rank scores the whole set, as a plain fit does."""
        if self.comm.size == 1:
            return super().evaluate(model, X, y, loss, sample_weight)
        return sharded_evaluate(self.comm, model, X, y, loss, sample_weight)

    def _sharded_step(
        self, idx: np.ndarray, epoch: int, batch: int
    ) -> tuple[float, float, float, float] | None:
        """One global batch (see the module docstring): ``(batch_loss, weight, hits,
        counted)``, or None when a rank asked to stop."""
        start, stop = shard_bounds(len(idx), self.comm.rank, self.comm.size)
        local = idx[start:stop]
        weight = self._batch_weight(idx)
        status = self.status
        status[:] = 0.0
        status[_STOP] = self.stop_requested
        error = None
        try:
            share, divisor = self._share(idx, start, stop)
            figures = self._local_pass(local, start, weight, share, divisor)
            status[_LOSS], status[_HITS], status[_COUNTED] = figures
        except Exception as exc:  # raised on every rank below, after the status is summed
            error = exc
        # an error met outside the step (a callback) is raised here too
        status[_FAILED] = error is not None or self.comm.pending is not None
        self.comm.sum_(status)
        if status[_FAILED]:
            self.comm.raise_together(error, f"fit: epoch {epoch}, batch {batch}")
        if status[_STOP]:
            return None
        batch_loss = float(status[_LOSS])
        reason = self.divergence.check(batch_loss, weight, len(idx), self.n_outputs)
        if reason is not None:
            self._diverged(reason, batch_loss, epoch, batch)
        if weight > 0:
            grads = self.model.named_grads()
            params = self._params_of(grads, batch)
            for buffer in _gradient_buffers(grads):
                self.comm.sum_(buffer)
            if self.l2_penalty:  # once, on the summed gradient, by the global batch's weight
                batch_loss += self._penalize(grads, weight)
            step_in_guard(self.optimizer, params, grads)
        return batch_loss, weight, float(status[_HITS]), float(status[_COUNTED])

    def _batch_weight(self, idx: np.ndarray) -> float:
        """The global batch's weight: its size, or the sum of its sample weights."""
        if self.sample_weight is None:
            return float(len(idx))
        w = np.take(self.sample_weight, idx, out=self.w_buf[: len(idx)], mode="clip")
        return float(np.sum(w, dtype=np.float64))

    def _share(self, idx: np.ndarray, start: int, stop: int) -> tuple[float, float]:
        """This shard's share of the batch's mean loss, and the batch's divisor: the loss's
        mean divisor over the shard over that over the batch
        (:func:`~softgrad.training.data.mean_divisor`: sum w_n cw[y_n] over the targets not
        ignored; n_local / n_global without sample or class weights).

        A batch whose divisor is 0 (every target ignored, or of class weight 0) has a loss and
        gradient of 0 in one process, so every shard's share is 0 (no gradient; the optimizer
        still steps where the batch weighs more than 0, as one process's does)."""
        targets = self.target[idx]
        # the global batch's weights sit in w_buf (_batch_weight)
        w = None if self.sample_weight is None else self.w_buf[: len(idx)]
        total = mean_divisor(self.loss, targets, w)  # the loss as it is now, as one process's
        if not total > 0:
            return 0.0, total
        local = mean_divisor(self.loss, targets[start:stop], None if w is None else w[start:stop])
        return local / total, total

    def _zero_gradients(self) -> None:
        for grad in self.model.named_grads().values():
            grad.fill(0)

    def _local_pass(
        self, local: np.ndarray, start: int, weight: float, share: float, divisor: float
    ) -> tuple[float, float, float]:
        """Forward, loss and backward on this rank's shard: (its part of the batch loss, its
        hits, the weight of its targets that accuracy counts).

        The gradient left in the model is this shard's share of the global batch's gradient.
        """
        n = len(local)
        if n == 0:
            self._zero_gradients()
            return 0.0, 0.0, 0.0
        x, t = self._gather(local)
        # the global batch's weights sit in w_buf (_batch_weight); this shard's are a slice
        w = None if self.sample_weight is None else self.w_buf[start : start + n]
        # through the step plan when it fits, as the single-process step
        step, _, plan = self._forward_loss(x, t, w)
        batch_loss, grad, hits = step_loss(step), step.grad, step.correct
        local_weight = n if w is None else float(np.sum(w, dtype=np.float64))
        counted = counted_weight(self.loss, t, w, local_weight)
        if self.loss_is_sum:
            # a (weighted) sum over the shard is already its part of the batch total, reported
            # per sample (per unit of weight); a shard that weighs 0 has no gradient
            if grad is None or not weight > 0:
                self._zero_gradients()
                return 0.0, hits, counted
            self._backward(plan, grad)
            return batch_loss / weight, hits, counted
        if share == 0 and divisor > 0:
            # no target of the shard counts in the divisor (class weights of 0), but label
            # smoothing still gives each a loss and a gradient: its part of the batch's mean
            return self._weightless_part(x, t, w, divisor), hits, counted
        if share == 0:  # the shard weighs 0 (its sample weights, all ignored, ...): no grad
            self._zero_gradients()
            return 0.0, hits, counted
        assert grad is not None  # a shard that weighs something has a gradient
        if share != 1:
            grad *= share  # the shard's mean -> its share of the batch's mean
        self._backward(plan, grad)
        return batch_loss * share, hits, counted

    def _weightless_part(
        self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None, divisor: float
    ) -> float:
        """The shard's part of the batch's mean loss when none of its targets counts in the
        divisor (:meth:`_share` 0) but the batch's does: its per-sample losses (label
        smoothing's terms) weighted and summed, over the batch's divisor, through the public
        forward and backward; returns that part and leaves its gradient in the model."""
        per_sample = per_sample_loss(self.loss, "fit")
        logits = self.model.forward(x)
        losses = per_sample_losses(per_sample, logits, t, t.shape, "fit")
        scale = np.full(len(t), 1.0 / divisor, dtype=logits.dtype)
        if w is not None:
            scale *= w
        self.model.backward(per_sample.backward(scale), input_grad=False)
        return float(np.dot(losses, scale))


def _gradient_buffers(grads: Any) -> list[np.ndarray]:
    """What to sum over the ranks: the one flat buffer of a packed Sequential, else each array."""
    flat = getattr(grads, "flat", None)
    return [flat] if flat is not None else list(grads.values())


def sharded_evaluate(
    comm: Communicator, model: Any, X: Any, y: np.ndarray, loss: Any, sample_weight: Any
) -> tuple[float, float]:
    """``evaluate``'s (loss, accuracy) on every rank, each rank scoring only its contiguous
    shard (:func:`shard_bounds`) of ``(X, y)``.

    Each rank scores its shard as sums (:func:`evaluation_sums`: the loss sum, the hits and
    what each is divided by, the hits by the weight of the targets the loss does not ignore);
    one Allreduce of those and a failed flag in float64 follows, so every rank divides the
    same sums: early stopping and plateau schedules decide on
    identical numbers everywhere. They equal one process's figures to float64 rounding (only
    the order of the sums differs). An error on one rank's shard is raised on every rank as a
    DistributedError.
    """
    start, stop = shard_bounds(X.shape[0], comm.rank, comm.size)
    sums = np.zeros(5, dtype=np.float64)
    try:
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight[start:stop], dtype=np.float64)
        total = float(stop - start) if w is None else float(np.sum(w))
        if total > 0:  # an empty shard (or one of weight 0) adds nothing
            sums[:4] = evaluation_sums(model, X[start:stop], y[start:stop], loss, sample_weight=w)
    except Exception as exc:
        comm.defer(exc)
    sums[4] = comm.pending is not None
    comm.sum_(sums)
    if sums[4]:
        comm.raise_together(None, "fit: validation")
    return evaluation_figures(*(float(v) for v in sums[:4]))


class _DeferErrors(CallbackList):
    """fit's callbacks on one rank of a data-parallel run: an error a callback raises here
    (on this rank alone, outside any collective) is kept (:meth:`Communicator.defer`) and
    raised on every rank at the next collective, so no rank is left waiting in one.

    A KeyboardInterrupt a callback raises is kept too: that is how ``softgrad train`` stops
    at the end of a batch on Ctrl-C (which mpiexec passes to every rank), and the ranks must
    stop at the same step, where MPI_Abort would end them before rank 0 could report.
    """

    def __init__(self, comm: Communicator, callbacks: Any) -> None:
        super().__init__(callbacks)
        self.comm = comm

    def call(self, hook: str, state: TrainState) -> bool:
        try:
            return super().call(hook, state)
        except (Exception, KeyboardInterrupt) as exc:
            self.comm.defer(exc)
            return False

"""The full-size steps of an epoch that nothing interrupts, without the checks between batches.

Every step of :class:`~softgrad.training.epoch_runner.EpochRunner` first asks whether anything
changed since the last one: the step plan whether the network and the loss are the same
(``StepPlan.ready``: the parameter store's ``sync``, the layers, the loss's settings), the bound
step whether the lane is (``BoundStep.usable``), and ``Optimizer.step`` whether its dicts are
the network's, writeable, of its dtype, with one step count (``check_roles``, ``check_dtype``,
``flat_step``'s ``sync``). Only code that runs between two batches can change those: a
callback's ``on_batch_end``, or the user's code in another thread, which softgrad does not
support during ``fit``. In an epoch with no batch hook, once a step has run the bound calls
(its checks all passed), the next full-size batches can only find what that step found, so
:class:`TrustedStep` runs them without asking again: the gather, the bound forward, loss and
backward, the divergence check of every batch, scikit-learn's L2 term where the run has one,
and the optimizer's bound flat update. The kernels and their order are those of the checked
step, so the weights are the same bits. The gather is bound too (``bind_gather_rows``: the
lane's checks of the rows and the buffer made once; 12.7 against 15.4 us a 128-row uint8 batch
from cache): h100 b128 on Fashion-MNIST's uint8 rows, fits alternating with the runner's
checked gather in one process, six pairs, 0.87-1.04x the epoch with SGD (median 0.98x) and
0.84-1.05x with Adam (median 0.96x), 2-core Zen 4, the same weights.

The batches go into two input buffers in turns, the plan's and one more with a bound step of
its own, so that a batch is never written into the lines both BLAS threads have just read: with
one buffer the gather's stores first take those lines back from the other core. Measured (h100
b128 SGD, Fashion-MNIST as uint8 rows, fit with one buffer and two, epochs interleaved, 2-core
Zen 4): 0.97-0.98x the epoch (the gather alone 54 -> 42 us a step in a loop of gathers and
products); on the float32 set, with Adam, and at h256 within 1% either way.

Measured (h100 b128, Fashion-MNIST, fit with and without it in one process, epochs interleaved,
the median of the per-round ratios, 2-core Zen 1): 0.93-0.95x the checked epoch with SGD, 0.96x
with Adam. A call of Python costs 2-3x more in the step than alone: the products before it evict
the interpreter's code and data (a 200-pass Python loop, 9.8 us alone, took 23.6 us right after
a (1024, 784) x (784, 100) product).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks.overrides import inherits
from softgrad.kernels import get_ops
from softgrad.optim.optimizer import Optimizer
from softgrad.training.bound_step import BoundStep
from softgrad.training.data import bind_gather_rows, step_loss
from softgrad.training.folded_step import GradientFold

__all__ = ["TrustedStep"]


class TrustedStep:
    """``runner._step`` for the full-size batches of an epoch without batch hooks, after a
    step that ran the bound calls: build it with :meth:`build`, call it per batch, and
    :meth:`close` it when the epoch ends (or stops)."""

    def __init__(self, runner: Any, epoch: int, samples: int, reads_grads: bool) -> None:
        plan = runner.plan
        self.runner, self.epoch = runner, epoch
        self.grads = plan.grads
        # the batches go into two input buffers in turns (the plan's, then one more with a bound
        # step of its own): each is written while the products read the other
        self.inputs = (runner.x_buf, np.empty_like(runner.x_buf))
        self.bounds = (plan.bound, BoundStep(plan, self.inputs[1], runner.t_buf))
        self.turn = 1  # the checked step before used the plan's buffer
        self.n_classes = plan.n_classes
        self.gather = runner._gather
        # each buffer's gather bound once (the lane's checks made here, not at every batch)
        self.takes = tuple(bind_gather_rows(runner.X, inputs) for inputs in self.inputs)
        self.rows = len(runner.x_buf)
        self.loss_is_sum = runner.loss_is_sum
        self.check = runner.divergence.check
        self.l2 = bool(runner.l2_penalty)
        self.optimizer = runner.optimizer
        self.state = runner.optimizer._flat
        # SGD's gradients folded into its update (softgrad.training.folded_step), but for the
        # epoch's last full batch, which leaves the gradients written as without folding
        self.fold = GradientFold.build(runner, plan, self.state, reads_grads, self.bounds)
        self.last_full = samples // self.rows

    @classmethod
    def build(cls, runner: Any, epoch: int, samples: int, reads_grads: bool) -> TrustedStep | None:
        """The trusted step of ``runner``'s epoch ``epoch`` over ``samples`` samples, or None
        where its checked step must go on: the last step did not run the plan's bound calls,
        or the optimizer did not take its flat, bound update (a subclass's own ``step``,
        per-array state). ``reads_grads``: whether a batch hook may read the gradients (which
        keeps them written at every step)."""
        plan = runner.plan
        if plan is None or plan.bound is None or not plan._bound_ran:
            return None
        if runner.sample_weight is not None or not plan.bound.usable():
            return None
        optimizer = runner.optimizer
        if not inherits(optimizer, Optimizer, "step"):
            return None
        state = getattr(optimizer, "_flat", None)
        if state is None or not state.usable(plan.store) or state.update is None:
            return None
        if state.update_ops is not get_ops():
            return None
        return cls(runner, epoch, samples, reads_grads)

    def __call__(self, idx: np.ndarray, batch: int) -> tuple[float, float, float, float]:
        """The step of the batch ``idx`` (the batch size's rows), number ``batch`` of the
        epoch: ``(loss, weight, hits, counted)`` as ``EpochRunner._step`` returns them."""
        n, turn = self.rows, self.turn
        self.turn = 1 - turn
        bound = self.bounds[turn]
        # a full batch: into the buffer its bound step reads
        self.gather(idx, self.inputs[turn], self.takes[turn])
        step = bound.forward_loss()
        loss = step_loss(step)
        batch_loss = loss / n if self.loss_is_sum else loss
        reason = self.check(batch_loss, n, n, self.n_classes)
        if reason is not None:
            self.runner._diverged(reason, batch_loss, self.epoch, batch)
        if self.fold is not None and batch != self.last_full:
            # backward and update, the gradients folded into the update (and the L2 term)
            batch_loss += self.fold.step(turn)
        else:
            bound.backward()
            if self.l2:
                batch_loss += self.runner._penalize(self.grads, n)
            self.state.advance(self.optimizer)  # the per-key counts once, at close
        # every target counts: the bound loss has no ignore_index (BoundStep.usable)
        return batch_loss, n, step.correct, n

    def close(self) -> None:
        """Give every parameter the flat state's step count, as ``flat_step`` does at every
        step (Adam's bias corrections and a saved state read them)."""
        self.state.write_steps(self.optimizer._steps)

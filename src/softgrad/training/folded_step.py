"""SGD's trusted steps with every gradient folded into the update: no gradient pass at all.

A step of SGD with momentum writes each weight gradient ``g = x^T d`` (one BLAS product), then
reads it back in the update pass. Folded, the product writes ``b = momentum * b + x^T d`` into
the momentum buffer itself (BLAS's beta) and the update is left with ``W -= lr * b``: the
gradient is never written or read. The formulas, and what was measured, are the kernel seam's
(:mod:`softgrad.kernels.sgd_fold`); this module decides which steps fold and binds them to a
trusted epoch's backward (:mod:`softgrad.training.trusted_step`). The user chooses:
``SGD(fold_gradients=False)`` writes the gradients at every step, and its training equals the
checked steps' bit for bit; folded, it is SGD's to a rounding or two per step.

When
    A :class:`~softgrad.training.trusted_step.TrustedStep` folds when everything below holds,
    decided once per epoch; any other step writes the gradients as always:

    - the optimizer is an :class:`~softgrad.optim.SGD` with ``fold_gradients=True`` (its
      default) and its own update, past its first step (torch's rule ignores the buffer
      there; a trusted epoch follows a checked step anyway);
    - no batch hook that may read the gradients (a callback's ``batch_hook_reads_grads =
      False`` says it does not);
    - the network's dtype is float32 or float64 (a StepPlan is built for no other);
    - the network's parameters are exactly its Linear layers' W and b.

What the gradients hold
    During the folded steps ``model.named_grads()`` is not written. The epoch's last full-size
    batch runs unfolded, so after every epoch that ran its batches (and after fit) the
    gradients are those of the last batch, as without folding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.checks.overrides import inherits
from softgrad.kernels import get_ops
from softgrad.kernels.sgd_fold import SGDFold

__all__ = ["GradientFold"]


class GradientFold:
    """The folded backward and update of a trusted epoch: build it with :meth:`build`."""

    def __init__(self, bounds: tuple, optimizer: Any, state: Any, fold: SGDFold) -> None:
        self.optimizer, self.state, self.fold = optimizer, state, fold
        # per bound step (the trusted steps' input buffers): its folded backward's calls
        self.backward_calls = [bound.bind_backward(fold.targets) for bound in bounds]

    @classmethod
    def build(
        cls, runner: Any, plan: Any, state: Any, reads_grads: bool, bounds: tuple
    ) -> GradientFold | None:
        """The fold of ``runner``'s trusted epoch, or None where its steps write the gradients
        (module docstring: When). ``state`` is the optimizer's flat state; ``reads_grads``
        whether a batch hook may read the gradients; ``bounds`` the epoch's bound steps."""
        from softgrad.optim import SGD

        optimizer = runner.optimizer
        if reads_grads or not getattr(optimizer, "fold_gradients", False):
            return None
        if not inherits(optimizer, SGD, "_update", "_bind_update", "_rule"):
            return None
        if state.step == 0:  # torch's rule ignores the buffer at step 1 (b = g): not folded
            return None  # (the trusted steps follow a checked one, so never met there)
        buffer = state.slots["momentum_buffer"] if optimizer.momentum != 0.0 else None
        layers = _targets(plan, state.store, state.store.params if buffer is None else buffer)
        if layers is None:
            return None
        # a trusted step's batch is full: scikit-learn's alpha / sum(w) is alpha / rows
        l2 = runner.l2_penalty / len(runner.x_buf)
        fold = get_ops().bind_sgd_fold(layers, state.store.params, buffer, optimizer._rule(), l2)
        return cls(bounds, optimizer, state, fold)

    def step(self, turn: int) -> float:
        """The backward and the update of one step, on the inputs of bound step ``turn`` (of
        ``build``'s ``bounds``), the step count advanced
        (``FlatState.advance`` without the per-key counts, as the trusted step's); returns the
        L2 penalty's loss term (0 without one)."""
        lr = float(self.optimizer.lr)
        penalty = self.fold.begin(lr)
        for run in self.backward_calls[turn]:
            run()
        self.fold.finish(lr)
        self.state.step += 1
        return penalty


def _targets(plan: Any, store: Any, into: np.ndarray) -> list | None:
    """``[(stage index, (W's array, b's array or None), (W, b or None))]``: the views of
    ``into`` (laid out as the store) where each Linear's gradients fold, and of the store's
    parameters, or None unless the Linears' W and b are the whole store. The plan checked that
    the store is the network's, its views in place (``StepPlan.ready``), so each layer's
    gradient array is the store's view of its key."""
    views = store.named_grads()
    spans = {id(views[key]): (start, stop) for key, start, stop, _ in store.layout}
    found = []
    for index, (linear, _, _) in enumerate(plan.stages):
        arrays: list[np.ndarray | None] = [None, None]
        params: list[np.ndarray | None] = [None, None]
        for slot, name in enumerate(("W", "b")):
            if name in linear.params:
                span = spans.pop(id(linear.grads.get(name)), None)
                if span is None:
                    return None
                shape = linear.params[name].shape
                arrays[slot] = into[span[0] : span[1]].reshape(shape)
                params[slot] = store.params[span[0] : span[1]].reshape(shape)
        found.append((index, tuple(arrays), tuple(params)))
    return found if not spans else None  # every key a Linear's W or b

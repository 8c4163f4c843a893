"""A full-size training step of a :class:`~softgrad.training.step_plan.StepPlan` as calls bound
once: every product, kernel and bookkeeping call of the step with its arrays fixed.

The step plan already runs a plain MLP's step from the layers' row methods into buffers it
allocated once. Each of those methods still looks its arrays up, checks their layout and finds
the kernel at every call (``get_ops()``, ``params["W"]``, ``_same_flat_layout``, the kernel
table): about 2-5 us a call, some 80 us a step on a Zen 1 core, a fifth of an h100 step at batch
32. For the batches of the full batch size, gathered into the same buffers every step, all of it
is the same at every step, so :class:`BoundStep` asks once: the layers bind their row methods
(``Linear._bind_forward_rows``, ``Linear._bind_backward_rows``, the activation's
``_bind_vjp_in_place``) and the kernel seam its routines (:mod:`softgrad.kernels.bound`), and a
step calls what they returned. The formulas and kernels are the row methods' own, so a bound
step computes what the plan's step computes, bit for bit on the same lane.

It runs when the plan's step would, for a batch of the full size held in the arrays it was bound
to, under a :class:`~softgrad.nn.CrossEntropyLoss` without sample weights or ignored targets (a
loss cap, ``max_sample_loss``, is applied as the plan's step applies it), or a
:class:`~softgrad.nn.LogisticLoss` on one output without sample weights; the plan checks that
before each batch, as it checks the network (:meth:`BoundStep.usable`, after
``StepPlan.ready``), and the lane in use (a ``set_kernels`` between two batches is honoured).
Anything else is the plan's own step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.kernels import get_ops
from softgrad.nn.loss import StepLoss

__all__ = ["BoundStep"]


class BoundStep:
    """The forward, loss and backward of a step plan (``plan``) for the inputs ``x`` and
    targets ``t`` of the full batch size: build it with :meth:`build`."""

    def __init__(self, plan: Any, x: np.ndarray, t: np.ndarray) -> None:
        self.x, self.t = x, t
        self.loss = plan.loss
        self.ops = get_ops()
        # forward: (bound call, the activation that keeps the output or None, the output)
        self.forward: list[tuple[Callable[[], Any], Any, np.ndarray]] = []
        inputs = []
        a = x
        for linear, activation, out in plan.stages:
            kernel = None if activation is None else activation.kernel
            inputs.append(a)
            self.forward.append((linear._bind_forward_rows(a, kernel, out), activation, out))
            a = out
        # LogisticLoss's call also takes the plan's buffers for it (none for CrossEntropyLoss)
        self.loss_call = plan.loss._bind_fused_step(a, t, plan.grad_logits, *plan.loss_buffers)
        # what binding the backward reads (not the plan itself: it holds this step)
        self.stages, self.grad_ins, self.grad_logits = plan.stages, plan.grad_ins, plan.grad_logits
        self.inputs = inputs
        self.backward_calls = self.bind_backward()

    def bind_backward(self, folds: dict[int, Any] | None = None) -> list[Callable[[], Any]]:
        """The backward's calls, last stage first: each activation's vjp (where it has one),
        then its Linear's. ``folds`` maps a stage's index to the
        :class:`~softgrad.kernels.sgd_fold.FoldTarget` its parameter gradients fold into
        (softgrad.training.folded_step); the others write ``grads``."""
        calls: list[Callable[[], Any]] = []
        g = self.grad_logits
        for index in range(len(self.stages) - 1, -1, -1):
            linear, activation, out = self.stages[index]
            if activation is not None:
                vjp = activation._bind_vjp_in_place(out, g)
                if vjp is not None:
                    calls.append(vjp)
            grad_in, x2 = self.grad_ins[index], self.inputs[index]
            fold = None if folds is None else folds.get(index)
            if fold is None:
                calls.append(linear._bind_backward_rows(x2, g, grad_in))
            else:
                calls.append(linear._bind_folded_backward_rows(x2, g, grad_in, fold))
            g = grad_in
        return calls

    @classmethod
    def build(cls, plan: Any, x: np.ndarray, t: np.ndarray) -> BoundStep | None:
        """A bound step of ``plan`` for batches held in ``x`` (n, D) and ``t`` (n,), n the
        plan's batch size, or None where only the plan's own step runs (module docstring)."""
        rows = plan.stages[0][2].shape[0]
        # the plan's loss is a CrossEntropyLoss or one LogisticLoss output (StepPlan.build)
        if plan.sample_weight is not None:
            return None
        if not (type(x) is np.ndarray and x.dtype == plan.dtype and x.flags.c_contiguous):
            return None
        if x.shape != (rows, plan.in_features):
            return None
        if not (type(t) is np.ndarray and t.shape == (rows,) and t.dtype.kind in "iu"):
            return None
        return cls(plan, x, t)

    def usable(self) -> bool:
        """Whether the bound calls still are the plan's step: the same lane, and a loss whose
        bound step is still its step (``_binds_plain_step``: CrossEntropyLoss without an ignored
        target, LogisticLoss always; the plan's ``ready`` checks the rest). Checked every step."""
        return get_ops() is self.ops and self.loss._binds_plain_step()

    def forward_loss(self) -> StepLoss:
        """The plan's ``forward_loss(x, t)`` for the bound arrays."""
        for run, activation, out in self.forward:
            run()
            if activation is not None:
                activation.take_output(out)
        return self.loss_call()

    def backward(self) -> None:
        """The plan's ``backward`` of the gradient :meth:`forward_loss` wrote."""
        for run in self.backward_calls:
            run()

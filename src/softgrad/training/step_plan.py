"""The training step of a plain MLP as one plan: its products and kernel calls, nothing else.

For the network most people train -- Linear layers, each hidden one followed by ReLU, Tanh,
Sigmoid or Identity, under CrossEntropyLoss, or one logistic output under LogisticLoss (the
scikit-learn estimator on two classes) -- a training step is a fixed list of BLAS products
and kernel calls. Going through the layers' public ``forward`` and ``backward`` adds, at every
layer and every step, the checks those methods owe their callers (shapes, dtypes, that forward
ran first) and fresh output arrays: about 40 us a step on this machine, 8% of the step at the
benchmark's h100 b128 and most of it at small batches, where the products are short.

:class:`StepPlan` runs the same list from the layers' row-level methods
(``Linear._forward_activated_rows``, ``Linear._forward_rows``, ``Linear._backward_rows``, the
activation's ``_vjp_in_place``, ``CrossEntropyLoss._fused_step`` or
``LogisticLoss._fused_step``): the formulas stay in the layers and the kernel seam, and the
plan only owns the arrays they write into, allocated once for the batch size (a short last
batch uses the front of each). Every layer keeps what its public ``backward`` would need, as
after ``model.forward``.

When it runs is decided by what the user built, nothing else:

- the model is a :class:`~softgrad.nn.Sequential` with ``fuse=True`` whose layers are exactly
  its ``fused_pairs`` (a Linear and its activation) followed by one last Linear, with no other
  layer (Dropout, a nested Sequential, a Softmax) between them;
- every weight has one dtype, float32 or float64, the batch's dtype;
- the loss is a :class:`~softgrad.nn.CrossEntropyLoss` whose settings take its one-kernel
  path (``forward_backward``'s Notes; with sample weights, no ``ignore_index``), or a
  :class:`~softgrad.nn.LogisticLoss` with reduction "mean" on a last Linear of one output
  (class-index targets 0 and 1; any label smoothing; with or without sample weights).

Anything else trains through the public methods, with the same results. Before each step the
plan checks that the network still is what it was built for (:meth:`StepPlan.ready`: the same
layers, ``fuse`` still on, the parameter store still the network's own with every array in
place, the loss's settings unchanged), so a callback that swaps a layer, replaces a weight array
or changes the loss between two batches is honoured at the next batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.kernels import FUSED_DTYPES
from softgrad.nn.logistic_loss import LogisticLoss
from softgrad.nn.loss import CrossEntropyLoss, StepLoss

__all__ = ["StepPlan"]


class StepPlan:
    """The forward, loss and backward of one training step of a plain MLP (module docstring).

    Build it with :meth:`build`, which returns None for any other network or loss.
    """

    def __init__(self, model: Any, loss: Any, batch_size: int, sample_weight: Any) -> None:
        self.model, self.loss = model, loss
        self.sample_weight = sample_weight  # only whether the run has any matters
        layers = self.layers = tuple(model.layers)
        self.store = model._current_store()
        self.grads = self.store.named_grads()
        dtype = layers[0].params["W"].dtype
        # (linear, activation or None, its output buffer, the input-gradient buffer or None)
        self.stages = []
        for index in range(0, len(layers), 2):
            linear = layers[index]
            activation = layers[index + 1] if index + 1 < len(layers) else None
            out = np.empty((batch_size, linear.out_features), dtype)
            grad_in = None if index == 0 else np.empty((batch_size, linear.in_features), dtype)
            self.stages.append((linear, activation, out, grad_in))
        self.grad_logits = np.empty_like(self.stages[-1][2])
        self.n_classes = layers[-1].out_features
        # LogisticLoss's targets as probabilities, softplus(logits) and the hits
        self.loss_buffers = ()
        if type(loss) is LogisticLoss:
            column = (batch_size, 1)
            hits = np.empty(batch_size, bool)
            self.loss_buffers = (np.empty(column, dtype), np.empty(column, dtype), hits)

    @classmethod
    def build(
        cls, model: Any, loss: Any, x_dtype: Any, batch_size: int, sample_weight: Any = None
    ) -> StepPlan | None:
        """A plan for ``model`` and ``loss`` on batches of ``x_dtype``, or None where the
        public methods must run (module docstring lists when). ``sample_weight``: the run's
        per-sample weights (N,), or None."""
        from softgrad.nn import Linear, Sequential

        if type(model) is not Sequential or type(loss) not in (CrossEntropyLoss, LogisticLoss):
            return None
        layers = tuple(model.layers)
        if not model.fuse or len(layers) % 2 != 1 or not loss._fuses_settings(sample_weight):
            return None
        pairs = model.fused_pairs
        if any(index not in pairs for index in range(0, len(layers) - 1, 2)):
            return None
        if type(layers[-1]) is not Linear:
            return None
        if type(loss) is LogisticLoss and layers[-1].out_features != 1:
            return None  # several logistic outputs take probability targets, not indices
        dtypes = {layer.params["W"].dtype for layer in layers[::2]}
        if len(dtypes) != 1 or np.dtype(x_dtype) not in dtypes or dtypes.pop() not in FUSED_DTYPES:
            return None
        return cls(model, loss, batch_size, sample_weight)

    def ready(self) -> bool:
        """Whether the network and the loss are still those the plan was built for, every
        parameter and gradient array in its place (a replaced one is copied back into the
        store, as ``named_params`` does). Costs a few microseconds: checked at every step."""
        model = self.model
        # a changed layers list, parameter shape or dtype makes the network build a new store
        return (
            model.fuse
            and model._current_store() is self.store
            and self.loss._fuses_settings(self.sample_weight)
        )

    def forward_loss(
        self, x: np.ndarray, target: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> StepLoss:
        """The batch's loss, dL/dlogits and hits: ``model.forward(x)`` then
        ``loss.forward_backward(logits, target, sample_weight)`` (for LogisticLoss:
        ``forward``, ``backward()`` and the hits), into the plan's arrays.

        x : ndarray of shape (n, D), C-contiguous, the weights' dtype; target : ndarray of
        shape (n,), int; sample_weight : ndarray of shape (n,) in x's dtype, given exactly when
        the plan was built with weights; n at most the batch size the plan was built for.
        """
        n = x.shape[0]
        a = x
        for linear, activation, out, _ in self.stages:
            if activation is None:
                a = linear._forward_rows(a, out[:n])
            else:
                a = activation.take_output(
                    linear._forward_activated_rows(a, activation.kernel, out[:n])
                )
        if self.loss_buffers:
            dense, softplus, hits = self.loss_buffers
            return self.loss._fused_step(
                a, target, sample_weight, self.grad_logits[:n], dense[:n], softplus[:n], hits[:n]
            )
        return self.loss._fused_step(a, target, sample_weight, self.grad_logits[:n])

    def backward(self, grad_logits: np.ndarray) -> None:
        """``model.backward(grad_logits, input_grad=False)``: every gradient assigned, the
        first layer's input gradient not computed."""
        n = grad_logits.shape[0]
        g = grad_logits
        stages = self.stages
        for index in range(len(stages) - 1, -1, -1):
            linear, activation, _, grad_in = stages[index]
            if activation is not None:
                g = activation._vjp_in_place(g)
            g = linear._backward_rows(g, index > 0, None if grad_in is None else grad_in[:n])

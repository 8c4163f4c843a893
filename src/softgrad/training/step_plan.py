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
  layer (Dropout, a nested Sequential, a Softmax) between them, and whose ``forward`` and
  ``backward``, and its layers', are the classes' own (one replaced on the instance, a wrapper
  or a hook, runs);
- every weight has one dtype, float32 or float64, the batch's dtype;
- the loss is a :class:`~softgrad.nn.CrossEntropyLoss` whose settings take its one-kernel
  path (``forward_backward``'s Notes: reduction "mean", no class weights or label smoothing;
  sample weights, ``ignore_index`` and ``max_sample_loss`` each or together), or a
  :class:`~softgrad.nn.LogisticLoss` with reduction "mean" on a last Linear of one output
  (class-index targets 0 and 1; any label smoothing; with or without sample weights); in
  either case with no ``forward``, ``backward`` or ``forward_backward`` set on the instance.

Batched inference (softgrad.training.predict) runs the forward half of the same plan,
:class:`ForwardPlan`, for the same networks.

A batch of the full size, gathered into the runner's own buffers, runs the same calls bound once
(:mod:`softgrad.training.bound_step`: the per-call lookups and checks made once).

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
from softgrad.nn.cross_entropy_loss import CrossEntropyLoss
from softgrad.nn.layer import replaced_methods
from softgrad.nn.linear_rows import Inspect
from softgrad.nn.logistic_loss import LogisticLoss
from softgrad.nn.loss import StepLoss
from softgrad.training.bound_step import BoundStep

__all__ = ["ForwardPlan", "StepPlan"]

# a loss with one of these set on the instance trains through its public methods (the hook runs)
LOSS_METHODS = ("forward", "backward", "forward_backward")


class ForwardPlan:
    """The forward of a plain MLP (module docstring) into arrays allocated once: what
    ``model.forward`` computes, by the same calls, for batches of at most ``batch_size`` rows.

    Batched inference runs it (softgrad.training.predict): the public forward allocates every
    layer's output afresh, and at batches of 1,024 rows of an h100 network the fresh 400 KB
    hidden array cost more than its bias and ReLU pass. Build it with :meth:`build`, which
    returns None for any other network.
    """

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        layers = self.layers = tuple(model.layers)
        self.store = model._current_store()
        self.dtype = layers[0].params["W"].dtype
        self.in_features = layers[0].in_features
        # (linear, activation or None, its output buffer)
        self.stages = [
            (
                layers[index],
                layers[index + 1] if index + 1 < len(layers) else None,
                np.empty((batch_size, layers[index].out_features), self.dtype),
            )
            for index in range(0, len(layers), 2)
        ]
        self.inputs: np.ndarray | None = None  # batches of another dtype, cast (forward)

    @staticmethod
    def fits(model: Any, x_dtype: Any = None) -> bool:
        """Whether ``model`` is a plain MLP that runs fused: a Sequential with ``fuse=True``
        of fused pairs and one last Linear, every weight of one dtype, float32 or float64 (the
        module docstring), and that dtype ``x_dtype`` where one is given."""
        from softgrad.nn import Linear, Sequential

        if type(model) is not Sequential or not model.fuse or replaced_methods(model):
            return False
        layers = tuple(model.layers)
        if len(layers) % 2 != 1 or type(layers[-1]) is not Linear:
            return False
        pairs = model.fused_pairs
        if any(index not in pairs for index in range(0, len(layers) - 1, 2)):
            return False
        dtypes = {layer.params["W"].dtype for layer in layers[::2]}
        if len(dtypes) != 1 or (x_dtype is not None and np.dtype(x_dtype) not in dtypes):
            return False
        return dtypes.pop() in FUSED_DTYPES

    @classmethod
    def build(cls, model: Any, batch_size: int) -> ForwardPlan | None:
        """A plan for ``model`` on batches of at most ``batch_size`` rows, or None where
        ``model.forward`` must run (:meth:`fits`)."""
        return cls(model, batch_size) if cls.fits(model) else None

    def ready(self) -> bool:
        """Whether the network is still the one the plan was built for, every parameter and
        gradient array in its place (a replaced one is copied back into the store, as
        ``named_params`` does). Costs a few microseconds."""
        model = self.model
        # a changed layers list, parameter shape or dtype makes the network build a new store
        return (
            model.fuse
            and model._current_store() is self.store
            and not replaced_methods(model)
            and not any(map(replaced_methods, model.layers))  # a hook set on a layer since
        )

    def takes(self, x: np.ndarray) -> bool:
        """Whether the plan runs the batch ``x``: (n, D) rows of real numbers, n at most its
        batch size (else ``model.forward`` runs it, and refuses it where it must)."""
        return (
            x.ndim == 2
            and x.dtype.kind in "biuf"
            and x.shape[1] == self.in_features
            and x.shape[0] <= self.stages[0][2].shape[0]
        )

    def forward(self, x: np.ndarray, inspect: Inspect | None = None) -> np.ndarray:
        """``model.forward(x)`` for (n, D) rows the plan takes (:meth:`takes`): the logits, a
        view of the plan's last array, valid until the next call. Rows of another dtype are
        cast into an array of the plan's first (as the public forward's ``astype``). Every layer
        keeps what its public ``backward`` would need, as after ``model.forward``.
        ``inspect``, if given, is called when the first layer's product ``x @ W`` held a NaN
        or an infinity, once its bias and activation are applied (it may raise, which ends the
        forward there; the first pass over the product reads it, ``bias_activation_finite``)."""
        n = x.shape[0]
        a = x
        if x.dtype != self.dtype:
            if self.inputs is None:
                self.inputs = np.empty((self.stages[0][2].shape[0], x.shape[1]), self.dtype)
            a = self.inputs[:n]
            np.copyto(a, x, casting="unsafe")
        for linear, activation, out in self.stages:
            if activation is None:
                a = linear._forward_rows(a, out[:n], inspect)
            else:
                a = activation.take_output(
                    linear._forward_activated_rows(a, activation.kernel, out[:n], inspect)
                )
            inspect = None
        return a


class StepPlan(ForwardPlan):
    """The forward, loss and backward of one training step of a plain MLP (module docstring).

    Build it with :meth:`build`, which returns None for any other network or loss.
    """

    def __init__(self, model: Any, loss: Any, batch_size: int, sample_weight: Any) -> None:
        super().__init__(model, batch_size)
        self.loss = loss
        self.sample_weight = sample_weight  # only whether the run has any matters
        self.grads = self.store.named_grads()
        # each stage's input-gradient buffer (None for the first layer: it computes none)
        self.grad_ins = [
            None if index == 0 else np.empty((batch_size, linear.in_features), self.dtype)
            for index, (linear, _, _) in enumerate(self.stages)
        ]
        self.grad_logits = np.empty_like(self.stages[-1][2])
        self.n_classes = self.layers[-1].out_features
        self.bound: BoundStep | None = None  # the full-size step's calls, bound (bind)
        self._bound_ran = False  # whether the last forward_loss ran them
        # LogisticLoss's targets as probabilities, softplus(logits) and the hits
        self.loss_buffers: tuple[np.ndarray, ...] = ()
        if type(loss) is LogisticLoss:
            column = (batch_size, 1)
            hits = np.empty(batch_size, bool)
            self.loss_buffers = (np.empty(column, self.dtype), np.empty(column, self.dtype), hits)

    @classmethod
    def build(  # type: ignore[override]
        cls, model: Any, loss: Any, x_dtype: Any, batch_size: int, sample_weight: Any = None
    ) -> StepPlan | None:
        """A plan for ``model`` and ``loss`` on batches of ``x_dtype``, or None where the
        public methods must run (module docstring lists when). ``sample_weight``: the run's
        per-sample weights (N,), or None."""
        if type(loss) not in (CrossEntropyLoss, LogisticLoss):
            return None
        if replaced_methods(loss, LOSS_METHODS):
            return None
        if not loss._fuses_settings(sample_weight) or not cls.fits(model, x_dtype):
            return None
        if type(loss) is LogisticLoss and model.layers[-1].out_features != 1:
            return None  # several logistic outputs take probability targets, not indices
        return cls(model, loss, batch_size, sample_weight)

    def ready(self) -> bool:
        """Whether the network and the loss are still those the plan was built for
        (:meth:`ForwardPlan.ready`, and the loss's settings unchanged). Checked at every step."""
        loss = self.loss
        return (
            super().ready()
            and loss._fuses_settings(self.sample_weight)
            and not replaced_methods(loss, LOSS_METHODS)
        )

    def bind(self, x: np.ndarray, target: np.ndarray) -> None:
        """Bind the step of full-size batches held in ``x`` and ``target`` (the caller's
        gather buffers): :class:`~softgrad.training.bound_step.BoundStep`. A later
        :meth:`forward_loss` of exactly these arrays runs the bound calls where they apply."""
        self.bound = BoundStep.build(self, x, target)

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
        bound = self.bound
        if bound is not None and x is bound.x and target is bound.t and bound.usable():
            step = bound.forward_loss()
            self._bound_ran = True
            return step
        self._bound_ran = False
        n = x.shape[0]
        a = self.forward(x)
        if self.loss_buffers:
            dense, softplus, hits = self.loss_buffers
            return self.loss._fused_step(
                a, target, sample_weight, self.grad_logits[:n], dense[:n], softplus[:n], hits[:n]
            )
        return self.loss._fused_step(a, target, sample_weight, self.grad_logits[:n])

    def backward(self, grad_logits: np.ndarray) -> None:
        """``model.backward(grad_logits, input_grad=False)``: every gradient assigned, the
        first layer's input gradient not computed."""
        if self.bound is not None and self._bound_ran and grad_logits is self.grad_logits:
            self.bound.backward()  # the gradient of the bound forward_loss
            return
        n = grad_logits.shape[0]
        g = grad_logits
        stages, grad_ins = self.stages, self.grad_ins
        for index in range(len(stages) - 1, -1, -1):
            linear, activation, _ = stages[index]
            grad_in = grad_ins[index]
            if activation is not None:
                g = activation._vjp_in_place(g)
            g = linear._backward_rows(g, index > 0, None if grad_in is None else grad_in[:n])

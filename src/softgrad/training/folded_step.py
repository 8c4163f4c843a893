"""SGD's trusted steps with every gradient folded into the update: no gradient pass at all.

A step of SGD with momentum writes each weight gradient ``g = x^T d`` (one BLAS product), then
reads it back in the update pass ``b = momentum * b + g; W -= lr * b``. BLAS's GEMM can do the
first half itself: ``b = 1 * x^T d + momentum * b`` is one product with ``beta = momentum``
(:mod:`softgrad.kernels.blas`), in the pass that writes the product anyway, and the update
is left with ``W -= lr * b``, one BLAS axpy that OpenBLAS spreads over the threads the product
has just left awake: the gradient is never written or read, the buffer is read and written
once less, and the update runs on both cores.

Measured with ``fit`` on Fashion-MNIST (uint8 rows, b128, SGD momentum 0.9, epochs interleaved
with folding on and off, 2-core Zen 4): h100 0.170-0.176 s against 0.193-0.204 unfolded
(0.86-0.88x), h256 0.94x; in the host's slow phases (both BLAS threads' lines slow to reach
the other core) 0.66-0.70x, as the update no longer reads on one core what both wrote. With
the fold alone and the update on one core, h100 was 0.92-0.96x and h256 0.98-1.02x: the first
layer's gradient (313 KB at h100, 800 KB at h256), written half on each core, cost the same
read back across cores as a gradient or as a buffer. Nesterov's (below): h100 0.92x, h256 0.95x.

The rules folded, with the products' (alpha, beta) and what is left of the update:

=============================  ==========================  =====================
SGD setting                     product: alpha, beta         update left
=============================  ==========================  =====================
momentum, torch's rule          1, momentum (0 at step 1)    ``W -= lr * b`` (axpy)
momentum, ``lr_in_velocity``    -lr, momentum                ``W += v`` (axpy)
no momentum                     -lr, 1 into W itself         none
=============================  ==========================  =====================

(the loss's gradient already carries the batch's 1/n). Weight decay ``wd`` adds one axpy
before the update, ``b += wd * W`` (``v -= lr * wd * W``), which is torch's ``b = momentum * b
+ (g + wd * W)`` (scikit-learn's rule likewise); without momentum it is the product's beta,
``W = (1 - lr * wd) W - lr x^T d``. Nesterov momentum needs ``g`` itself (torch's ``W -= lr *
(g + momentum * b_new)``), which is ``b_new - momentum * b_old``; so each layer moves its
weights by the old buffer right before its product and by the new one right after:
``W += lr * momentum * b_old``, the product, ``W -= lr * (1 + momentum) * b_new`` (scikit-learn's
rule: ``W -= momentum * v_old``, ``W += (1 + momentum) * v_new``), two axpys per array and no
update left. The bias gradients fold the same way through GEMV (``ones^T d``). The result is
SGD's, to a rounding or two per step: ``momentum * b + g`` is rounded once inside the product
instead of twice.

When
    A :class:`~softgrad.training.trusted_step.TrustedStep` folds when everything below holds,
    decided once per epoch; any other step writes the gradients as always:

    - folding is on (:func:`set_gradient_folding`, on by default);
    - the optimizer is :class:`~softgrad.optim.SGD` with its own update, not Nesterov momentum
      with weight decay (the decay term would read weights its move has changed);
    - no L2 penalty (scikit-learn's ``alpha`` adds to the gradients) and no batch hook that may
      read the gradients (a callback's ``batch_hook_reads_grads = False`` says it does not);
    - NumPy's own BLAS was found and checked (:func:`softgrad.kernels.blas.numpy_blas`);
    - the network's parameters are exactly its Linear layers' W and b.

What the gradients hold
    During the folded steps ``model.named_grads()`` is not written. The epoch's last full-size
    batch runs unfolded, so after every epoch that ran its batches (and after fit) the
    gradients are those of the last batch, as without folding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.kernels.blas import numpy_blas
from softgrad.nn.linear_rows import FoldTarget

__all__ = ["GradientFold", "gradient_folding", "set_gradient_folding"]

_setting = {"on": True}


def set_gradient_folding(on: bool) -> bool:
    """Turn gradient folding (module docstring) on or off for this process; returns the
    setting it had. Off, every step writes the gradients and then updates from them, and a
    trusted epoch trains as its checked steps would, bit for bit."""
    if not isinstance(on, bool):
        raise TypeError(f"set_gradient_folding: on must be True or False; got {on!r}")
    previous, _setting["on"] = _setting["on"], on
    return previous


def gradient_folding() -> bool:
    """Whether gradient folding is on (:func:`set_gradient_folding`)."""
    return _setting["on"]


class GradientFold:
    """The folded backward and update of a trusted epoch: build it with :meth:`build`."""

    def __init__(self, bound: Any, optimizer: Any, state: Any, targets: list, blas: Any) -> None:
        self.optimizer, self.state = optimizer, state
        self.coefficients: list[float] = [1.0, 0.0]
        self.momentum = float(optimizer.momentum)
        self.velocity = bool(optimizer.lr_in_velocity)
        self.decay = float(optimizer.weight_decay)
        self.nesterov = bool(optimizer.nesterov)
        # Nesterov's moves of the weights before and after each layer's product (their alphas)
        self.shifts: list[float] = [0.0, 0.0]
        folds = {
            index: FoldTarget(arrays, self.coefficients, blas, *self._moves(blas, arrays, params))
            for index, arrays, params in targets
        }
        self.backward_calls = bound.bind_backward(folds)
        self.apply = self.decay_into = None
        if self.momentum != 0.0 and not self.nesterov:  # W -= lr * b (or W += v) on BLAS threads
            buffer, params = state.slots["momentum_buffer"], state.store.params
            self.apply = blas.bind_axpy(buffer, params)
            if self.decay != 0.0:  # b += wd * W (or v -= lr * wd * W) before it
                self.decay_into = blas.bind_axpy(params, buffer)

    def _moves(self, blas: Any, arrays: tuple, params: tuple) -> tuple:
        """(before, after) for a layer's fold: None, None but with Nesterov momentum, where
        each adds its alpha (``shifts``) times the layer's buffer to its weights."""
        if not self.nesterov:
            return None, None
        moves = [
            blas.bind_axpy(buffer, param)
            for buffer, param in zip(arrays, params, strict=True)
            if buffer is not None
        ]
        shifts = self.shifts

        def before() -> None:
            for move in moves:
                move(shifts[0])

        def after() -> None:
            for move in moves:
                move(shifts[1])

        return before, after

    @classmethod
    def build(cls, runner: Any, plan: Any, state: Any, reads_grads: bool) -> GradientFold | None:
        """The fold of ``runner``'s trusted epoch, or None where its steps write the gradients
        (module docstring: When). ``state`` is the optimizer's flat state; ``reads_grads``
        whether a batch hook may read the gradients."""
        from softgrad.optim import SGD

        optimizer = runner.optimizer
        if not _setting["on"] or reads_grads or runner.l2_penalty:
            return None
        if not isinstance(optimizer, SGD) or any(
            getattr(type(optimizer), name) is not getattr(SGD, name)
            for name in ("_update", "_bind_update", "_rule")
        ):
            return None
        if optimizer.nesterov and optimizer.weight_decay != 0.0:
            return None  # its decay term reads the weights its move has already changed
        blas = numpy_blas()
        if blas is None or plan.dtype not in (np.float32, np.float64):
            return None
        into = state.slots["momentum_buffer"] if optimizer.momentum != 0.0 else state.store.params
        targets = _targets(plan, state.store, into)
        if targets is None:
            return None
        return cls(plan.bound, optimizer, state, targets, blas)

    def step(self) -> None:
        """The backward and the update of one step, the step count advanced
        (``FlatState.advance`` without the per-key counts, as the trusted step's)."""
        state, optimizer, coefficients = self.state, self.optimizer, self.coefficients
        lr, decay = float(optimizer.lr), self.decay
        if self.momentum == 0.0:  # W = (1 - lr * wd) W - lr x^T d, straight into the weights
            coefficients[0], coefficients[1] = -lr, 1.0 - lr * decay
        elif self.velocity:
            coefficients[0], coefficients[1] = -lr, self.momentum
        else:
            coefficients[0] = 1.0
            coefficients[1] = 0.0 if state.step == 0 else self.momentum
        if self.nesterov:  # W + lr mu b_old - lr (1 + mu) b_new (W - mu v_old + (1 + mu) v_new)
            momentum = self.momentum
            if self.velocity:
                self.shifts[0], self.shifts[1] = -momentum, 1.0 + momentum
            else:
                self.shifts[0], self.shifts[1] = lr * momentum, -lr * (1.0 + momentum)
        for run in self.backward_calls:
            run()
        if self.decay_into is not None:
            self.decay_into(-lr * decay if self.velocity else decay)
        if self.apply is not None:
            self.apply(1.0 if self.velocity else -lr)
        state.step += 1


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

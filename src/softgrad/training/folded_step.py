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
momentum, torch's rule          1, momentum                  ``W -= lr * b`` (axpy)
momentum, ``lr_in_velocity``    -lr, momentum                ``W += v`` (axpy)
no momentum                     -lr, 1 into W itself         none
=============================  ==========================  =====================

(the loss's gradient already carries the batch's 1/n). A decay term ``s * W`` in the gradient
(weight decay ``wd`` on every parameter, scikit-learn's L2 penalty ``alpha / n`` on the
weights W but not the biases, or both) adds BLAS axpys before the update (weight decay one
over the whole store, the penalty one per W), ``b += s * W`` (``v -= lr * s * W``), which is
torch's ``b = momentum * b + (g + s * W)`` (scikit-learn's rule likewise); without momentum
each layer takes it off its weights right before its product, ``W += (-lr * s) W`` (an axpy of
W onto itself: scaling by ``1 - lr * s`` instead, as the product's beta could, rounds ``lr *
s`` against 1, and in float32 a 1e-7 loses up to half of itself; a scikit-learn Fashion-MNIST
test moved 7e-4 from its loss curve so). The L2 penalty's loss term ``0.5 * alpha / n *
sum(W * W)`` is a dot per W, of the weights the step starts from.

Nesterov momentum needs ``g`` itself (torch's ``W -= lr * (g + momentum * b_new)``), which is
``b_new - momentum * b_old``; so each layer moves its weights by the old buffer right before
its product and by the new one right after: ``W += lr * momentum * b_old``, the product, ``W -=
lr * (1 + momentum) * b_new`` (scikit-learn's rule: ``W -= momentum * v_old``, ``W += (1 +
momentum) * v_new``), two axpys per array and no update left. A decay term must read the
weights before the first move, and the product overwrites ``b_old``: so it goes into the buffer
before the move, ``b += (s / momentum) W`` (the product's beta makes it ``s * W``; ``v -= (lr
s / momentum) W``), and the move, which must still add ``b_old`` alone, becomes ``W += (-lr
* s) W`` and ``W += lr * momentum * b``: three axpys per array before the product. The bias
gradients fold the same way through GEMV (``ones^T d``). The result is SGD's, to a rounding or
two per step: ``momentum * b + g`` is rounded once inside the product instead of twice.

When
    A :class:`~softgrad.training.trusted_step.TrustedStep` folds when everything below holds,
    decided once per epoch; any other step writes the gradients as always:

    - folding is on (:func:`set_gradient_folding`, on by default);
    - the optimizer is :class:`~softgrad.optim.SGD` with its own update, past its first step
      (torch's rule ignores the buffer there; a trusted epoch follows a checked step anyway);
    - no batch hook that may read the gradients (a callback's ``batch_hook_reads_grads =
      False`` says it does not);
    - the network's dtype is float32 or float64;
    - the network's parameters are exactly its Linear layers' W and b.

What the gradients hold
    During the folded steps ``model.named_grads()`` is not written. The epoch's last full-size
    batch runs unfolded, so after every epoch that ran its batches (and after fit) the
    gradients are those of the last batch, as without folding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from softgrad.kernels.blas import blas_routines
from softgrad.kernels.penalty import penalty_loss
from softgrad.nn.linear_rows import FoldTarget

__all__ = ["GradientFold", "gradient_folding", "set_gradient_folding"]

_setting = {"on": True}


def set_gradient_folding(on: bool) -> bool:
    """Turn gradient folding (module docstring) on or off for this process; returns the
    setting it had. Off, every step writes the gradients and then updates from them, and a
    trusted epoch trains as its checked steps would, bit for bit.

    Parameters
    ----------
    on : bool
        True to fold (the default setting of a new process), False not to.

    Returns
    -------
    previous : bool
        The setting before the call, to restore it with.

    Raises
    ------
    TypeError
        ``on`` is not a bool (``0`` and ``1`` included).

    Examples
    --------
    >>> from softgrad.training import gradient_folding, set_gradient_folding
    >>> previous = set_gradient_folding(False)
    >>> gradient_folding()
    False
    >>> _ = set_gradient_folding(previous)
    >>> gradient_folding() == previous
    True
    """
    if not isinstance(on, bool):
        raise TypeError(f"set_gradient_folding: on must be True or False; got {on!r}")
    previous, _setting["on"] = _setting["on"], on
    return previous


def gradient_folding() -> bool:
    """Whether gradient folding is on (:func:`set_gradient_folding`).

    Returns
    -------
    on : bool
        True unless :func:`set_gradient_folding` turned it off in this process.

    Examples
    --------
    >>> from softgrad.training import gradient_folding
    >>> isinstance(gradient_folding(), bool)
    True
    """
    return _setting["on"]


class GradientFold:
    """The folded backward and update of a trusted epoch: build it with :meth:`build`."""

    def __init__(
        self, bounds: tuple, optimizer: Any, state: Any, targets: list, blas: Any, l2: float
    ) -> None:
        self.optimizer, self.state = optimizer, state
        self.coefficients: list[float] = [1.0, 0.0]  # every layer's products' (alpha, beta)
        self.momentum = float(optimizer.momentum)
        self.velocity = bool(optimizer.lr_in_velocity)
        self.decay = float(optimizer.weight_decay)
        self.nesterov = bool(optimizer.nesterov)
        self.l2 = l2  # scikit-learn's alpha over the batch's rows: the weights' extra rate
        # every Linear's W is penalized: (its array in the fold's target, the weights)
        self.penalized = [(arrays[0], params[0]) for _, arrays, params in targets]
        # Nesterov's moves of the weights before and after each layer's product (their alphas),
        # and per slot (W, b) the decay's pre-add into the buffer and its term in the weights
        self.shifts: list[float] = [0.0, 0.0]
        self.pre: list[list[float]] = [[0.0, 0.0], [0.0, 0.0]]
        folds = {
            index: FoldTarget(arrays, self.coefficients, blas, *self._moves(blas, arrays, params))
            for index, arrays, params in targets
        }
        # per bound step (the trusted steps' input buffers): its folded backward's calls
        self.backward_calls = [bound.bind_backward(folds) for bound in bounds]
        self.apply = self.decay_into = None
        self.penalize_into: list = []
        if self.momentum != 0.0 and not self.nesterov:  # W -= lr * b (or W += v) on BLAS threads
            buffer, params = state.slots["momentum_buffer"], state.store.params
            self.apply = blas.bind_axpy(buffer, params)
            if self.decay != 0.0:  # b += wd * W (or v -= lr * wd * W) before it
                self.decay_into = blas.bind_axpy(params, buffer)
            if self.l2 != 0.0:  # b_W += l2 * W (or v_W -= lr * l2 * W) likewise
                self.penalize_into = [blas.bind_axpy(w, b) for b, w in self.penalized]

    def _rate(self, slot: int) -> float:
        """The decay rate of a layer's W (slot 0: weight decay plus the L2 penalty) or b."""
        return self.decay + (self.l2 if slot == 0 else 0.0)

    def _moves(self, blas: Any, arrays: tuple, params: tuple) -> tuple:
        """(before, after) for a layer's fold, each None or a call: with momentum but not
        Nesterov's, None, None (the decay terms go into the buffers after every product);
        without momentum, ``before`` takes each decay term off the weights (``W += (-lr s) W``,
        the product's beta 1); Nesterov's, the decay's pre-add and term, then the moves by
        ``shifts`` (module docstring)."""
        if self.momentum != 0.0 and not self.nesterov:
            return None, None
        pairs = [
            (slot, buffer, param)
            for slot, (buffer, param) in enumerate(zip(arrays, params, strict=True))
            if buffer is not None
        ]
        # the decay term as an axpy of the weights onto themselves: exact to a rounding, where
        # a scale by (1 - lr s) would round lr s against 1 (in float32 a 1e-7 half lost)
        decayed = [(slot, buffer, param) for slot, buffer, param in pairs if self._rate(slot)]
        shrinks = [(self.pre[slot], blas.bind_axpy(param, param)) for slot, _, param in decayed]
        if not self.nesterov:  # no momentum: the fold's arrays are the weights themselves

            def decay() -> None:
                for (_, term), shrink in shrinks:
                    shrink(term)

            return (decay if shrinks else None), None
        decays = [
            (factors, blas.bind_axpy(param, buffer), shrink)
            for (factors, shrink), (_, buffer, param) in zip(shrinks, decayed, strict=True)
        ]
        moves = [blas.bind_axpy(buffer, param) for _, buffer, param in pairs]
        shifts = self.shifts

        def before() -> None:
            for (into_buffer, term), add, shrink in decays:
                add(into_buffer)
                shrink(term)
            for move in moves:
                move(shifts[0])

        def after() -> None:
            for move in moves:
                move(shifts[1])

        return before, after

    @classmethod
    def build(
        cls, runner: Any, plan: Any, state: Any, reads_grads: bool, bounds: tuple
    ) -> GradientFold | None:
        """The fold of ``runner``'s trusted epoch, or None where its steps write the gradients
        (module docstring: When). ``state`` is the optimizer's flat state; ``reads_grads``
        whether a batch hook may read the gradients; ``bounds`` the epoch's bound steps."""
        from softgrad.optim import SGD

        optimizer = runner.optimizer
        if not _setting["on"] or reads_grads:
            return None
        if not isinstance(optimizer, SGD) or any(
            getattr(type(optimizer), name) is not getattr(SGD, name)
            for name in ("_update", "_bind_update", "_rule")
        ):
            return None
        if state.step == 0:  # torch's rule ignores the buffer at step 1 (b = g): not folded
            return None  # (the trusted steps follow a checked one, so never met there)
        if plan.dtype not in (np.float32, np.float64):
            return None
        into = state.slots["momentum_buffer"] if optimizer.momentum != 0.0 else state.store.params
        targets = _targets(plan, state.store, into)
        if targets is None:
            return None
        # a trusted step's batch is full: scikit-learn's alpha / sum(w) is alpha / rows
        l2 = runner.l2_penalty / len(runner.x_buf)
        return cls(bounds, optimizer, state, targets, blas_routines(), l2)

    def step(self, turn: int) -> float:
        """The backward and the update of one step, on the inputs of bound step ``turn`` (of
        ``build``'s ``bounds``), the step count advanced
        (``FlatState.advance`` without the per-key counts, as the trusted step's); returns the
        L2 penalty's loss term (0 without one)."""
        state, optimizer, coefficients = self.state, self.optimizer, self.coefficients
        lr, decay, l2, momentum = float(optimizer.lr), self.decay, self.l2, self.momentum
        penalty = 0.0
        if l2 != 0.0:  # of the weights the step starts from, as the unfolded step's
            penalty = sum(penalty_loss(weights, l2) for _, weights in self.penalized)
        if momentum == 0.0:  # W += (-lr s) W, then W = -lr x^T d + W, straight into the weights
            coefficients[:] = -lr, 1.0
        else:
            coefficients[:] = -lr if self.velocity else 1.0, momentum
        for slot, factors in enumerate(self.pre):  # the decay terms _moves runs per layer
            rate = self._rate(slot)
            factors[1] = -lr * rate
            if self.nesterov:  # its pre-add, which the product's beta makes s W (or -lr s W)
                factors[0] = (-lr * rate if self.velocity else rate) / momentum
        if self.nesterov:  # W + lr mu b_old - lr (1 + mu) b_new (W - mu v_old + (1 + mu) v_new)
            if self.velocity:
                self.shifts[:] = -momentum, 1.0 + momentum
            else:
                self.shifts[:] = lr * momentum, -lr * (1.0 + momentum)
        for run in self.backward_calls[turn]:
            run()
        if self.decay_into is not None:
            self.decay_into(-lr * decay if self.velocity else decay)
        for add in self.penalize_into:
            add(-lr * l2 if self.velocity else l2)
        if self.apply is not None:
            self.apply(1.0 if self.velocity else -lr)
        state.step += 1
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

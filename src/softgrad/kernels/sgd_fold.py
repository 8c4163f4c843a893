"""SGD's update with every weight gradient folded into the backward's products: no gradient pass.

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

Who folds, and when, is :mod:`softgrad.training.folded_step`'s business (a trusted epoch, an
:class:`~softgrad.optim.SGD` whose ``fold_gradients`` is True); this module holds the formulas,
bound to the arrays once per epoch: :meth:`SGDFoldKernels.bind_sgd_fold` gives an
:class:`SGDFold`, whose :attr:`~SGDFold.targets` a step's bound backward folds into
(:meth:`softgrad.nn.linear.Linear._bind_folded_backward_rows`), between its
:meth:`~SGDFold.begin` and :meth:`~SGDFold.finish`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from softgrad.kernels.blas import blas_routines
from softgrad.kernels.penalty import penalty_loss
from softgrad.kernels.routines import Routines

__all__ = ["FoldTarget", "SGDFold", "SGDFoldKernels"]


class FoldTarget:
    """Where a layer's folded parameter gradients go
    (:meth:`softgrad.nn.linear.Linear._bind_folded_backward_rows`): ``arrays`` = (the array for
    W's, the one for b's or None), both shaped like the parameters; ``coefficients`` = the
    (alpha, beta) of the next call, a list :class:`SGDFold` updates in place; ``blas`` the
    routines that run the products (:func:`~softgrad.kernels.blas.blas_routines`); ``before``
    and ``after``, if given, run right before and after the products (the decay terms and
    Nesterov's moves of the weights around the new buffer, module docstring)."""

    __slots__ = ("after", "arrays", "before", "blas", "coefficients")

    def __init__(
        self,
        arrays: tuple,
        coefficients: list,
        blas: Routines,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.arrays, self.coefficients, self.blas = arrays, coefficients, blas
        self.before, self.after = before, after


class SGDFold:
    """SGD's rule folded into a network's backward products, bound to its arrays (module
    docstring): per step :meth:`begin`, the layers' folded backward calls, :meth:`finish`.

    Parameters
    ----------
    layers : list of (int, (ndarray, ndarray or None), (ndarray, ndarray or None))
        Per Linear layer: its index (the key of its target in :attr:`targets`), the arrays its
        W's and b's gradients fold into (views of ``buffer``, or of ``params`` without
        momentum) and its W and b (views of ``params``).
    params : ndarray of shape (P,)
        The flat parameter store.
    buffer : ndarray of shape (P,) or None
        The flat momentum buffer, laid out as ``params`` (None without momentum).
    rule : dict
        SGD's settings: ``momentum``, ``nesterov``, ``weight_decay``, ``lr_in_velocity``
        (:meth:`softgrad.optim.SGD._rule`).
    l2 : float
        scikit-learn's L2 rate of the weights W (``alpha`` over the batch's rows), 0 for none.
    blas : Routines
        The products' routines (:func:`~softgrad.kernels.blas.blas_routines`).
    """

    def __init__(
        self,
        layers: list,
        params: np.ndarray,
        buffer: np.ndarray | None,
        rule: Mapping[str, Any],
        l2: float,
        blas: Routines,
    ) -> None:
        self.coefficients: list[float] = [1.0, 0.0]  # every layer's products' (alpha, beta)
        self.momentum = float(rule["momentum"])
        self.velocity = bool(rule["lr_in_velocity"])
        self.decay = float(rule["weight_decay"])
        self.nesterov = bool(rule["nesterov"])
        self.l2 = l2
        # every Linear's W is penalized: (its array in the fold's target, the weights)
        self.penalized = [(arrays[0], weights[0]) for _, arrays, weights in layers]
        # Nesterov's moves of the weights before and after each layer's product (their alphas),
        # and per slot (W, b) the decay's pre-add into the buffer and its term in the weights
        self.shifts: list[float] = [0.0, 0.0]
        self.pre: list[list[float]] = [[0.0, 0.0], [0.0, 0.0]]
        self.targets = {
            index: FoldTarget(arrays, self.coefficients, blas, *self._moves(blas, arrays, weights))
            for index, arrays, weights in layers
        }
        self.apply: Callable[[float], None] | None = None
        self.decay_into: Callable[[float], None] | None = None
        self.penalize_into: list = []
        if buffer is not None and not self.nesterov:  # W -= lr * b (or W += v) on BLAS threads
            self.apply = blas.bind_axpy(buffer, params)
            if self.decay != 0.0:  # b += wd * W (or v -= lr * wd * W) before it
                self.decay_into = blas.bind_axpy(params, buffer)
            if self.l2 != 0.0:  # b_W += l2 * W (or v_W -= lr * l2 * W) likewise
                self.penalize_into = [blas.bind_axpy(w, b) for b, w in self.penalized]

    def _rate(self, slot: int) -> float:
        """The decay rate of a layer's W (slot 0: weight decay plus the L2 penalty) or b."""
        return self.decay + (self.l2 if slot == 0 else 0.0)

    def _moves(self, blas: Routines, arrays: tuple, params: tuple) -> tuple:
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

    def begin(self, lr: float) -> float:
        """Set the coefficients of a step at learning rate ``lr``, before the layers' folded
        backward calls run; returns the L2 penalty's loss term (0 without one), of the weights
        the step starts from, as the unfolded step's."""
        coefficients, l2, momentum = self.coefficients, self.l2, self.momentum
        penalty = 0.0
        if l2 != 0.0:
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
        return penalty

    def finish(self, lr: float) -> None:
        """What is left of the update at learning rate ``lr`` once the layers' folded backward
        calls ran: the decay terms into the buffer, then ``W -= lr * b`` (``W += v``)."""
        if self.decay_into is not None:
            self.decay_into(-lr * self.decay if self.velocity else self.decay)
        for add in self.penalize_into:
            add(-lr * self.l2 if self.velocity else self.l2)
        if self.apply is not None:
            self.apply(1.0 if self.velocity else -lr)


class SGDFoldKernels:
    """NumpyOps mixin: SGD's update folded into the backward's products (module docstring)."""

    def bind_sgd_fold(
        self,
        layers: list,
        params: np.ndarray,
        buffer: np.ndarray | None,
        rule: Mapping[str, Any],
        l2: float,
    ) -> SGDFold:
        """An :class:`SGDFold` of ``layers`` over the flat ``params`` and momentum ``buffer``
        (None without momentum) with SGD's ``rule`` and scikit-learn's L2 rate ``l2``, its
        products run by NumPy's own BLAS where it is found
        (:func:`~softgrad.kernels.blas.blas_routines`). Every lane folds alike: the products
        are BLAS's, and what is left are BLAS axpys."""
        return SGDFold(layers, params, buffer, rule, l2, blas_routines())

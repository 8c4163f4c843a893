"""The Numba lane's bound calls (:mod:`softgrad.kernels.bound`): each checks its arrays' layout
once and binds the compiled kernel the lane's routine would call, so that a call is the kernel's
launch alone. Arrays the kernel does not take get the NumPy lane's binding, which runs the
lane's routine in full (it falls back where it must, as on any call)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.kernels import numba_activations, numba_losses
from softgrad.kernels.bound import BoundKernels
from softgrad.kernels.numba_layout import _same_flat_layout
from softgrad.kernels.numba_softmax_ops import _NO_WEIGHTS, _long_rows_apart

__all__ = ["NumbaBoundKernels"]


class NumbaBoundKernels(BoundKernels):
    """``bind_*`` for the Numba lane: the kernels themselves, checked once."""

    def bind_bias_activation(
        self, y: np.ndarray, b: np.ndarray | None, activation: str
    ) -> Callable[[], Any]:
        """The bias + activation kernel (``NumbaOps.bias_activation``) on ``y`` and ``b``."""
        if not (_same_flat_layout(y) and y.ndim == 2 and y.flags.writeable):
            return super().bind_bias_activation(y, b, activation)
        if b is not None and not (_same_flat_layout(b) and b.shape == y.shape[1:]):
            return super().bind_bias_activation(y, b, activation)
        if b is not None and b.dtype != y.dtype:
            return super().bind_bias_activation(y, b, activation)
        bias = b if b is not None else y[:0, :].reshape(0)
        kernel = numba_activations.BIAS_ACTIVATION[numba_activations.ACTIVATIONS[activation]]
        return functools.partial(kernel, y, bias)

    def bind_activation_vjp(
        self, activation: str, y: np.ndarray, g: np.ndarray
    ) -> Callable[[], Any]:
        """The activation's backward kernel (``NumbaOps._vjp``), in place over ``g``."""
        if not (_same_flat_layout(y, g) and g.flags.writeable) or np.may_share_memory(y, g):
            return super().bind_activation_vjp(activation, y, g)
        kind = numba_activations.ACTIVATIONS[activation]
        flat = g.reshape(-1)
        return functools.partial(
            numba_activations.ACTIVATION_BACKWARD[kind], y.reshape(-1), flat, flat
        )

    def bind_softmax_cross_entropy_mean_correct(
        self, logits: np.ndarray, target: np.ndarray, grad: np.ndarray
    ) -> Callable[[], tuple[float, float]]:
        """The fused loss kernel (``NumbaOps.softmax_cross_entropy_mean_correct`` without
        weights or an ignored target, on rows shorter than a long row)."""
        generic = super().bind_softmax_cross_entropy_mean_correct(logits, target, grad)
        if _long_rows_apart(logits, grad) or not _same_flat_layout(logits, grad):
            return generic
        if not (type(target) is np.ndarray and target.ndim == 1 and target.dtype.kind in "iu"):
            return generic
        kernel = functools.partial(
            numba_losses.softmax_cross_entropy, logits, target, _NO_WEIGHTS, 0, False, grad
        )

        def run() -> tuple[float, float]:
            loss, correct = kernel()
            if correct < 0:  # a target outside the classes: the routine says which
                return generic()
            return loss, correct

        return run

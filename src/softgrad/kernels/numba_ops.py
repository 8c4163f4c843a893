"""NumbaOps: the compiled lane of the kernel seam, Numba kernels behind NumpyOps's methods.

Each routine it overrides is one fused loop (``softgrad.kernels.numba_*``), compiled on first
use and cached on disk (``cache=True``: a later process loads it instead of compiling).
Everything it does not override is NumpyOps's, and every matrix product stays in NumPy's BLAS.
Importing this module imports Numba (about 0.4 s), so nothing imports it until
``set_kernels("numba")`` (or ``SOFTGRAD_KERNELS=numba``) asks for it.

The methods take what the NumPy lane's take and trust their inputs as it does: C-contiguous
float32/float64 arrays of one dtype, flat (1-d) optimizer buffers. This module holds the
methods that call one elementwise kernel over a flat buffer or a batch (the optimizer updates,
bias + activation and the activations' backward); the gathers and the coded rows are the mixin
:class:`~softgrad.kernels.numba_gather_ops.NumbaGatherKernels`, the softmax family and
softmax-cross-entropy, which choose among row kernels,
:class:`~softgrad.kernels.numba_softmax_ops.NumbaSoftmaxKernels`, sigmoid cross-entropy
:class:`~softgrad.kernels.numba_logistic.NumbaLogisticKernels`, and the L2 penalty
:class:`~softgrad.kernels.numba_penalty.NumbaPenaltyKernels`.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from softgrad.kernels import numba_activations, numba_threads
from softgrad.kernels.numba_bound import NumbaBoundKernels
from softgrad.kernels.numba_gather_ops import NumbaGatherKernels
from softgrad.kernels.numba_layout import (
    _kernel_bias,
    _same_flat_layout,
    _same_or_apart,
    _writes_into,
)
from softgrad.kernels.numba_logistic import NumbaLogisticKernels
from softgrad.kernels.numba_penalty import NumbaPenaltyKernels
from softgrad.kernels.numba_softmax_ops import NumbaSoftmaxKernels
from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.kernels.rows import row_view

__all__ = ["NumbaOps"]


class NumbaOps(
    NumbaBoundKernels,
    NumbaGatherKernels,
    NumbaSoftmaxKernels,
    NumbaLogisticKernels,
    NumbaPenaltyKernels,
    NumpyOps,
):
    """The Numba lane: fused updates, scaled gather, bias + activation, softmax-cross-entropy,
    sigmoid cross-entropy."""

    name = "numba"

    @staticmethod
    def describe() -> dict[str, object]:
        """What this lane runs on: Numba's version, its thread count, its threading layer
        (:mod:`softgrad.kernels.numba_threads` chooses it) and the folder its kernels are
        cached in (None: compiled by every process), with a note where that folder lasts only
        as long as the process."""
        return {
            "numba": numba.__version__,
            "threads": numba_threads.thread_count(),
            "layer": numba_threads.threading_layer(),
            "cache": numba_threads.cache_folder(),
            "cache_note": numba_threads.cache_note(),
        }

    def sgd_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        buf: np.ndarray | None,
        scratch: list[np.ndarray],
        *,
        lr: float,
        first_step: bool,
        **hyper: Any,
    ) -> None:
        """One SGD step in one pass (:func:`softgrad.kernels.numba_updates.sgd_rule`): the bound
        call (``bind_sgd_update``, which casts the settings and picks the rule's kernel) made
        once; the NumPy lane's signature (``hyper``: momentum, nesterov, weight_decay,
        lr_in_velocity), ``scratch`` unused. Arrays other than C-contiguous native
        float32/float64 of one dtype go to the NumPy lane."""
        self.bind_sgd_update(param, grad, buf, scratch, **hyper)(lr, first_step)

    def adam_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        scratch: list[np.ndarray],
        *,
        lr: float,
        step: int,
        **hyper: Any,
    ) -> None:
        """One Adam (AdamW when ``decoupled``) step in one pass
        (:func:`softgrad.kernels.numba_updates.adam`), on torch's moments: the bound call
        (``bind_adam_update``) made once; the NumPy lane's signature (``hyper``: beta1, beta2,
        eps, weight_decay, decoupled, fold_bias_correction), ``scratch`` unused. Arrays other
        than C-contiguous native float32/float64 of one dtype go to the NumPy lane."""
        self.bind_adam_update(param, grad, m, v, scratch, **hyper)(lr, step)

    def bias_activation(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> np.ndarray:
        """``y = f(y + b)`` in place on an (N, H) product, one pass; ``activation`` names f
        (``numba_activations.ACTIVATIONS``). A float16 product (no compiled kernel) takes the
        NumPy lane's passes, so a float16 layer gets the same numbers on either lane."""
        if not _kernel_bias(y, b):
            return super().bias_activation(y, b, activation)
        self._bias_activation(y, b, activation, False)
        return y

    def bias_activation_finite(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> bool:
        """:meth:`bias_activation`, and whether y was finite before it: read in the same pass
        (the NumPy lane reads y once more first)."""
        if not _kernel_bias(y, b):
            return super().bias_activation_finite(y, b, activation)
        return self._bias_activation(y, b, activation, True) == 0

    def _bias_activation(self, y: np.ndarray, b: np.ndarray | None, activation: str, check: bool):
        bias = b if b is not None else y[:0, :].reshape(0)
        kind = numba_activations.ACTIVATIONS[activation]
        return numba_activations.bias_activation(y, bias, kind, check)

    def sigmoid(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """s = 1 / (1 + exp(-x)) into ``out`` (fresh if None; may be ``x``): the bias +
        activation kernel's logistic, one pass after a copy (the NumPy lane makes six)."""
        done = self._activation(x, out, "sigmoid")
        return done if done is not None else super().sigmoid(x, out=out)

    def tanh(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """t = tanh(x) into ``out`` (fresh if None; may be ``x``): the bias + activation
        kernel's tanh (numba_math's in float32, np.tanh in float64), one pass after a copy."""
        done = self._activation(x, out, "tanh")
        return done if done is not None else super().tanh(x, out=out)

    def _activation(self, x: np.ndarray, out: np.ndarray | None, activation: str):
        """``f(x)`` through the bias + activation kernel (no bias) for C-contiguous float32 /
        float64 arrays of one shape, ``out`` the same as ``x`` or apart from it; None
        otherwise (the NumPy lane takes the call). ReLU stays NumPy's: one ``np.maximum``
        pass beats a copy and a kernel call."""
        if out is None:
            if not _same_flat_layout(x):
                return None
            out = np.empty_like(x)  # C-contiguous like x, writeable, apart from it
        elif not _writes_into(x, out):
            return None
        if out is not x:
            np.copyto(out, x)
        if out.size:  # rows along the last axis (a 0-d array is one)
            rows = row_view(out, -1) if out.ndim else out.reshape(1, 1)
            assert rows is not None  # out is C-contiguous: its last axis is its rows
            self.bias_activation(rows, None, activation)
        return out

    def relu_vjp(self, y: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """grad_x = g * (y > 0) into ``out`` (may be ``g``), one pass."""
        done = self._vjp("relu", y, g, out)
        return done if done is not None else super().relu_vjp(y, g, out=out)

    def tanh_vjp(self, t: np.ndarray, g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """grad_x = g * (1 - t * t) into ``out`` (may be ``g``), one pass."""
        done = self._vjp("tanh", t, g, out)
        return done if done is not None else super().tanh_vjp(t, g, out=out)

    def sigmoid_vjp(
        self, s: np.ndarray, g: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """grad_x = g * s * (1 - s) into ``out`` (may be ``g``), one pass."""
        done = self._vjp("sigmoid", s, g, out)
        return done if done is not None else super().sigmoid_vjp(s, g, out=out)

    def _vjp(
        self, activation: str, y: np.ndarray, g: np.ndarray, out: np.ndarray | None
    ) -> np.ndarray | None:
        """The kernel's backward for C-contiguous float32/float64 arrays of one shape and dtype
        (the training step's); None otherwise (the NumPy lane takes the call)."""
        if out is None and type(g) is np.ndarray:
            out = np.empty_like(g)
        if not (
            out is not None  # _same_flat_layout refuses it too
            and _same_flat_layout(y, g, out)
            and out.flags.writeable
            and _same_or_apart(y, out)  # a partial overlap would read what it wrote
            and _same_or_apart(g, out)
        ):
            return None
        numba_activations.activation_backward(
            y.reshape(-1), g.reshape(-1), numba_activations.ACTIVATIONS[activation], out.reshape(-1)
        )
        return out

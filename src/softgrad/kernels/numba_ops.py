"""NumbaOps: the compiled lane of the kernel seam, Numba kernels behind NumpyOps's methods.

Each routine it overrides is one fused loop (``softgrad.kernels.numba_*``), compiled on first
use and cached on disk (``cache=True``: a later process loads it instead of compiling).
Everything it does not override is NumpyOps's, and every matrix product stays in NumPy's BLAS.
Importing this module imports Numba (about 0.4 s), so nothing imports it until
``set_kernels("numba")`` (or ``SOFTGRAD_KERNELS=numba``) asks for it.

The methods take what the NumPy lane's take and trust their inputs as it does: C-contiguous
float32/float64 arrays of one dtype, flat (1-d) optimizer buffers. This module holds the
methods that call one elementwise kernel over a flat buffer or a batch (the optimizer updates,
bias + activation and the activations' backward, the scaled gather); the softmax family and
softmax-cross-entropy, which choose among row kernels, are the mixin
:class:`~softgrad.kernels.numba_softmax_ops.NumbaSoftmaxKernels`, and the L2 penalty
:class:`~softgrad.kernels.numba_penalty.NumbaPenaltyKernels`.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from softgrad.kernels import (
    FUSED_DTYPES,
    numba_activations,
    numba_codes,
    numba_gather,
    numba_threads,
)
from softgrad.kernels.numba_bound import NumbaBoundKernels
from softgrad.kernels.numba_layout import _native_rows, _same_flat_layout, _same_or_apart
from softgrad.kernels.numba_penalty import NumbaPenaltyKernels
from softgrad.kernels.numba_softmax_ops import NumbaSoftmaxKernels
from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.kernels.rows import row_view

__all__ = ["NumbaOps"]


class NumbaOps(NumbaBoundKernels, NumbaSoftmaxKernels, NumbaPenaltyKernels, NumpyOps):
    """The Numba lane: fused updates, scaled gather, bias + activation, softmax-cross-entropy."""

    name = "numba"

    @staticmethod
    def describe() -> dict[str, object]:
        """What this lane runs on: Numba's version, its thread count and its threading layer
        (:mod:`softgrad.kernels.numba_threads` chooses it)."""
        return {
            "numba": numba.__version__,
            "threads": numba_threads.thread_count(),
            "layer": numba_threads.threading_layer(),
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
        """One SGD step in one pass (:func:`softgrad.kernels.numba_updates.sgd`): the bound
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

    def gather_rows_scaled(
        self,
        x: np.ndarray,
        idx: np.ndarray,
        offset: np.ndarray | float,
        scale: np.ndarray | float,
        out: np.ndarray,
    ) -> np.ndarray:
        """``out[i] = (x[idx[i]] - offset) * scale`` in out's dtype: a Scaler folded into the
        gather, so stored uint8 rows are scaled on the fly. Anything but C-contiguous native
        arrays, or an ``out`` that may overlap ``x`` or ``idx``, goes to the NumPy lane."""
        if (
            not _native_rows(x, idx, out)
            or np.may_share_memory(out, x)
            or np.may_share_memory(out, idx)
        ):
            return super().gather_rows_scaled(x, idx, offset, scale, out)
        if x.ndim != 2:
            x, out2 = _as_rows(x, out)
        else:
            out2 = out
        offset, scale = _feature_vector(offset, out), _feature_vector(scale, out)
        if offset.size != 1 or scale.size != 1:  # per-feature: both (D,)
            n_features = x.shape[1]
            offset, scale = (
                v if v.size == n_features else np.ascontiguousarray(np.broadcast_to(v, n_features))
                for v in (offset, scale)
            )
        numba_gather.gather_rows_scaled(x, idx, offset, scale, out2)
        return out

    def encode_rows(self, x: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, values)`` with ``values[codes] == x.astype(dtype)`` bit for bit, in one
        pass (:mod:`~softgrad.kernels.numba_codes`), or None: for x not a C-contiguous native
        float32/float64 (N, D) array, for ``dtype`` not one of them, and where a value is not
        finite once converted or x holds more than 256 distinct values."""
        dtype = np.dtype(dtype)
        floats = FUSED_DTYPES
        if not (_native_rows(x) and x.ndim == 2 and x.dtype in floats and dtype in floats):
            return None
        codes = np.empty(x.shape, np.uint8)
        table = np.zeros(numba_codes.MAX_CODES, dtype)
        encode = numba_codes.encode_rows32 if dtype == np.float32 else numba_codes.encode_rows64
        used = encode(x, codes, table)
        return None if used < 0 else (codes, table[:used].copy())

    def recode(self, codes: np.ndarray, remap: np.ndarray) -> None:
        """``codes[...] = remap[codes]`` in place, one pass (the NumPy lane: ``np.take``
        into a temporary of codes' size); ``remap`` uint8 of 256 entries."""
        if not (_native_rows(codes) and codes.dtype == np.uint8 and codes.flags.writeable):
            return super().recode(codes, remap)
        numba_codes.recode(codes, np.ascontiguousarray(remap, dtype=np.uint8))

    def gather_rows_table(
        self,
        codes: np.ndarray,
        idx: np.ndarray,
        table: np.ndarray,
        out: np.ndarray,
        grid: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """``out[i] = table[codes[idx[i]]]``, one pass; with ``grid`` (offset, divisor) the
        values are computed, ``(code - offset) / divisor`` (``gather_rows_levels``: 20 us for
        128 random rows of 784 codes into float32, against 47 us by table lookup). Anything
        but C-contiguous native (N, D) arrays of one float dtype, or an ``out`` that may
        overlap the others, goes to the NumPy lane."""
        if (
            not _native_rows(codes, idx, table, out)
            or codes.ndim != 2
            or codes.dtype != np.uint8
            or out.dtype not in FUSED_DTYPES
            or table.dtype != out.dtype
            or np.may_share_memory(out, codes)
            or np.may_share_memory(out, idx)
            or np.may_share_memory(out, table)
        ):
            return super().gather_rows_table(codes, idx, table, out, grid)
        if grid is not None:
            cast = out.dtype.type
            numba_gather.gather_rows_levels(codes, idx, cast(grid[0]), cast(grid[1]), out)
        else:
            numba_gather.gather_rows_table(codes, idx, table, out)
        return out

    def bias_activation(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> np.ndarray:
        """``y = f(y + b)`` in place on an (N, H) product, one pass; ``activation`` names f
        (``numba_activations.ACTIVATIONS``)."""
        self._bias_activation(y, b, activation, False)
        return y

    def bias_activation_finite(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> bool:
        """:meth:`bias_activation`, and whether y was finite before it: read in the same pass
        (the NumPy lane reads y once more first)."""
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
        kernel's tanh (numba_math's in float32), one pass after a copy."""
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
        elif not (_same_flat_layout(x, out) and out.flags.writeable and _same_or_apart(x, out)):
            return None
        if out is not x:
            np.copyto(out, x)
        if out.size:  # rows along the last axis (a 0-d array is one)
            rows = row_view(out, -1) if out.ndim else out.reshape(1, 1)
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
        if not (_same_flat_layout(y, g, out) and out.flags.writeable):
            return None
        numba_activations.activation_backward(
            y.reshape(-1), g.reshape(-1), numba_activations.ACTIVATIONS[activation], out.reshape(-1)
        )
        return out


def _feature_vector(value: np.ndarray | float, out: np.ndarray) -> np.ndarray:
    """``value`` as a C-contiguous 1-d array of out's dtype: the caller's own array when it is
    one already (a Scaler's offset and scale; nothing is copied per batch)."""
    if type(value) is np.ndarray and value.dtype == out.dtype and value.ndim == 1:
        if value.flags.c_contiguous:
            return value
    return np.ascontiguousarray(value, dtype=out.dtype).reshape(-1)


def _as_rows(x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) and (B, D) views of samples of any shape (N, ...) and their batch (B, ...)."""
    n_features = math.prod(x.shape[1:])
    return x.reshape(x.shape[0], n_features), out.reshape(out.shape[0], n_features)

"""NumbaOps: the compiled lane of the kernel seam, Numba kernels behind NumpyOps's methods.

Each routine it overrides is one fused loop (``softgrad.kernels.numba_*``), compiled on first
use and cached on disk (``cache=True``: a later process loads it instead of compiling).
Everything it does not override is NumpyOps's, and every matrix product stays in NumPy's BLAS.
Importing this module imports Numba (about 0.4 s), so nothing imports it until
``set_kernels("numba")`` (or ``SOFTGRAD_KERNELS=numba``) asks for it.

The methods take what the NumPy lane's take and trust their inputs as it does: C-contiguous
float32/float64 arrays of one dtype, flat (1-d) optimizer buffers.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from softgrad.kernels import (
    FUSED_DTYPES,
    numba_activations,
    numba_gather,
    numba_losses,
    numba_threads,
    numba_updates,
)
from softgrad.kernels.losses import SoftmaxCE
from softgrad.kernels.numba_penalty import NumbaPenaltyKernels
from softgrad.kernels.numba_threads import PARALLEL_MIN
from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.kernels.rows import row_view
from softgrad.kernels.updates import adam_scalars

__all__ = ["NumbaOps"]


class NumbaOps(NumbaPenaltyKernels, NumpyOps):
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
        momentum: float,
        nesterov: bool,
        weight_decay: float,
        lr_in_velocity: bool,
        first_step: bool,
    ) -> None:
        """One SGD step in one pass (:func:`softgrad.kernels.numba_updates.sgd`); the
        NumPy lane's signature, ``scratch`` unused (the fused loop needs no temporary).
        Arrays other than C-contiguous native float32/float64 of one dtype go to the NumPy
        lane."""
        if not _same_flat_layout(param, grad, *(() if buf is None else (buf,))):
            super().sgd_update(
                param, grad, buf, scratch, lr=lr, momentum=momentum, nesterov=nesterov,
                weight_decay=weight_decay, lr_in_velocity=lr_in_velocity, first_step=first_step,
            )  # fmt: skip
            return
        flat = param.reshape(-1)
        cast = param.dtype.type  # float32 parameters: the update computes in float32
        numba_updates.sgd(
            flat,
            grad.reshape(-1),
            flat[:0] if buf is None else buf.reshape(-1),  # not read when momentum is 0
            cast(lr),
            cast(momentum),
            cast(weight_decay),
            bool(nesterov),
            bool(lr_in_velocity),
            bool(first_step),
        )

    def adam_update(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        scratch: list[np.ndarray],
        *,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        weight_decay: float,
        decoupled: bool,
        fold_bias_correction: bool,
        step: int,
    ) -> None:
        """One Adam (AdamW when ``decoupled``) step in one pass
        (:func:`softgrad.kernels.numba_updates.adam`), on torch's moments; the NumPy lane's
        signature, ``scratch`` unused. Arrays other than C-contiguous native float32/float64
        of one dtype go to the NumPy lane."""
        if not _same_flat_layout(param, grad, m, v):
            super().adam_update(
                param, grad, m, v, scratch, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                weight_decay=weight_decay, decoupled=decoupled,
                fold_bias_correction=fold_bias_correction, step=step,
            )  # fmt: skip
            return
        step_size, root = adam_scalars(lr, beta1, beta2, fold_bias_correction, step)
        cast = param.dtype.type
        numba_updates.adam(
            param.reshape(-1),
            grad.reshape(-1),
            m.reshape(-1),
            v.reshape(-1),
            cast(beta1),
            cast(beta2),
            cast(1.0 - beta1),
            cast(1.0 - beta2),
            cast(step_size),
            cast(root),
            cast(eps),
            cast(0.0 if decoupled else weight_decay),
            cast(1.0 - lr * weight_decay if decoupled else 1.0),
        )

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

    def bias_activation(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> np.ndarray:
        """``y = f(y + b)`` in place on an (N, H) product, one pass; ``activation`` names f
        (``numba_activations.ACTIVATIONS``)."""
        bias = b if b is not None else y[:0, :].reshape(0)
        numba_activations.bias_activation(y, bias, numba_activations.ACTIVATIONS[activation])
        return y

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

    def softmax_rows(self, x: np.ndarray, e: np.ndarray, scale: float = 1.0) -> None:
        """The NumPy lane's ``e = scale * softmax(x)`` on (M, C) rows in one kernel call
        (numba_losses.softmax_rows: flat passes over blocks of rows; rows of ``LONG_ROW`` or
        more into another array one at a time, numba_losses.softmax_long_rows), for every
        softmax of this lane (any axis, masks: NumpyOps.softmax brings them to rows first)."""
        if not (_same_flat_layout(x, e) and e.flags.writeable and _same_or_apart(x, e)):
            return super().softmax_rows(x, e, scale)
        if _long_rows_apart(x, e):
            numba_losses.softmax_long_rows(x, e, float(scale))
            return None
        numba_losses.softmax_rows(x, e, float(scale), _shares(x))
        return None

    def log_softmax_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        """The NumPy lane's ``out = log_softmax(x)`` on (M, C) rows in one kernel call
        (numba_losses.log_softmax_rows, or log_softmax_long_rows as for softmax_rows), for every
        log_softmax of this lane."""
        if not (_same_flat_layout(x, out) and out.flags.writeable and _same_or_apart(x, out)):
            return super().log_softmax_rows(x, out)
        if _long_rows_apart(x, out):
            numba_losses.log_softmax_long_rows(x, out)
            return None
        numba_losses.log_softmax_rows(x, out, _shares(x))
        return None

    def softmax_vjp_rows(self, s: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
        """The NumPy lane's softmax VJP on (M, C) rows in one kernel call
        (numba_losses.softmax_vjp_rows), for every softmax VJP and JVP of this lane."""
        if not (
            _same_flat_layout(s, g, out)
            and out.flags.writeable
            and not np.may_share_memory(s, out)
            and _same_or_apart(g, out)
        ):
            return super().softmax_vjp_rows(s, g, out)
        numba_losses.softmax_vjp_rows(s, g, out)
        return None

    def softmax_cross_entropy(
        self, logits: np.ndarray, target: np.ndarray, e: np.ndarray
    ) -> tuple[np.ndarray, SoftmaxCE]:
        """Per-row losses and the cache for :meth:`softmax_cross_entropy_grad`, one pass
        (numba_losses.softmax_cross_entropy_rows) for class-index targets and C-contiguous
        native float rows; anything else (distribution targets) goes to the NumPy lane."""
        if target.ndim != 1 or not _same_flat_layout(logits, e):
            return super().softmax_cross_entropy(logits, target, e)
        n_rows = logits.shape[0]
        total = np.empty((n_rows, 1), dtype=logits.dtype)
        loss = np.empty(n_rows)
        offsets = np.empty(n_rows, dtype=np.intp)
        if not numba_losses.softmax_cross_entropy_rows(
            logits, target, e, total.reshape(-1), loss, offsets
        ):
            return super().softmax_cross_entropy(logits, target, e)  # it reports the target
        return loss, SoftmaxCE(e, total, offsets)

    def softmax_cross_entropy_grad(
        self, cache: SoftmaxCE, scale: float | np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """dL/dlogits = r * (e / S - onehot(y)) into ``out`` (may be ``e``), one pass, for
        class-index caches; distribution targets go to the NumPy lane."""
        e, total, target = cache
        if out is None:
            out = np.empty_like(e)
        if target.ndim != 1 or not (_same_flat_layout(e, out) and out.flags.writeable):
            return super().softmax_cross_entropy_grad(cache, scale, out=out)
        r = np.asarray(scale, dtype=e.dtype).reshape(-1)  # a float or (N, 1) per-row scales
        numba_losses.softmax_cross_entropy_rows_grad(e, total.reshape(-1), target, r, out)
        return out

    def softmax_cross_entropy_mean(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """The (weighted) mean loss, sum_n w_n loss_n / sum_n w_n; fills ``grad`` with
        dL/dlogits (may be ``logits``). One pass over the logits (numba_losses)."""
        return self.softmax_cross_entropy_mean_correct(logits, target, grad, sample_weight)[0]

    def softmax_cross_entropy_mean_correct(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        sample_weight: np.ndarray | None = None,
        ignore_index: int | None = None,
    ) -> tuple[float, float]:
        """The NumPy lane's ``softmax_cross_entropy_mean_correct`` (kernels/losses.py: the
        loss, the gradient into ``grad``, the weighted count of correct argmax predictions;
        ignored rows count in none of them) in one pass over the logits
        (:func:`softgrad.kernels.numba_losses.softmax_cross_entropy`).

        Raises
        ------
        IndexError
            A target outside [0, C) (the kernel checks them before anything is written).
        """
        weights = _NO_WEIGHTS if sample_weight is None else np.asarray(sample_weight, np.float64)
        use_ignore = ignore_index is not None
        # long rows into another array one at a time (numba_losses.LONG_ROW), else by blocks
        ignore = int(ignore_index) if use_ignore else 0
        if _long_rows_apart(logits, grad):
            # NumPy's vectorised argmax gives the kernel each row's maximum (the kernel's own
            # scalar loop was most of its time at 1,000 classes)
            top = np.argmax(logits, axis=1)
            loss, correct = numba_losses.softmax_cross_entropy_long_rows(
                logits, target, weights, ignore, use_ignore, grad, top
            )
        else:
            loss, correct = numba_losses.softmax_cross_entropy(
                logits, target, weights, ignore, use_ignore, grad
            )
        if correct < 0:
            raise IndexError(
                f"softmax_cross_entropy_mean: target must hold class indices in "
                f"[0, {logits.shape[1]}); got values from {target.min()} to {target.max()}"
            )
        return loss, correct


# an empty weight array: every sample weighs 1 (one compiled signature for both cases)
_NO_WEIGHTS = np.empty(0)


def _shares(x: np.ndarray) -> int:
    """How many shares a row kernel splits its blocks in: one per Numba thread from
    ``PARALLEL_MIN`` elements (where it runs on the threads), else 1."""
    return numba_threads.thread_count() if x.size >= PARALLEL_MIN else 1


def _long_rows_apart(x: np.ndarray, out: np.ndarray) -> bool:
    """Whether a softmax, log_softmax or fused cross-entropy of (M, C) rows goes to its
    row-at-a-time kernel: rows of at least ``numba_losses.LONG_ROW`` entries into an array
    that does not overlap ``x`` (an in-place call keeps the blocks, which read a block of x
    before writing it; the row kernels write a row's exps first)."""
    return x.shape[-1] >= numba_losses.LONG_ROW and not np.may_share_memory(x, out)


def _same_or_apart(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one C-contiguous layout are the same memory (an in-place call,
    which the row kernels allow) or do not overlap at all; a partial overlap goes to the NumPy
    lane, whose ufuncs buffer it."""
    if not np.may_share_memory(a, b):
        return True
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _native_rows(*arrays: object) -> bool:
    """Whether the arrays are C-contiguous ndarrays of a native (not byte-swapped) dtype."""
    return all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype.isnative for a in arrays)


def _same_flat_layout(*arrays: object) -> bool:
    """Whether the arrays are C-contiguous ndarrays of one shape and one native float32/64
    dtype (a byte-swapped float32 is not np.float32)."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype not in FUSED_DTYPES:
        return False  # dtype objects: a byte-swapped float32 is not one
    dtype, shape = first.dtype, first.shape
    # a plain loop: a generator under all() cost 1.8 us a call here, on every kernel call
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape:
            return False
        if not a.flags.c_contiguous:
            return False
    return True


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

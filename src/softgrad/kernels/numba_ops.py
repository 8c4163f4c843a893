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

from softgrad.kernels import numba_activations, numba_gather, numba_losses, numba_updates
from softgrad.kernels.numpy_ops import NumpyOps

__all__ = ["NumbaOps"]


class NumbaOps(NumpyOps):
    """The Numba lane: fused updates, gather, bias + activation, softmax-cross-entropy."""

    name = "numba"

    @staticmethod
    def describe() -> dict[str, object]:
        """What this lane runs on: Numba's version, thread count and threading layer (the one
        in use once a threaded kernel has run, else the configured choice)."""
        try:
            layer = numba.threading_layer()
        except ValueError:  # no threaded kernel has run in this process yet
            layer = f"{numba.config.THREADING_LAYER}, picked at the first threaded kernel"
        return {"numba": numba.__version__, "threads": numba.get_num_threads(), "layer": layer}

    def sgd_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        buf: np.ndarray,
        step: int,
        lr: float,
        momentum: float,
        weight_decay: float,
        nesterov: bool,
        lr_in_velocity: bool,
    ) -> None:
        """One SGD step on flat buffers (see :func:`softgrad.kernels.numba_updates.sgd`)."""
        cast = param.dtype.type
        numba_updates.sgd(
            param,
            grad,
            buf,
            cast(lr),
            cast(momentum),
            cast(weight_decay),
            bool(nesterov),
            bool(lr_in_velocity),
            step == 1,
        )

    def adam_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        step: int,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        weight_decay: float,
        decoupled: bool,
        fold_bias_correction: bool,
    ) -> None:
        """One Adam (AdamW when ``decoupled``) step on flat buffers, moments stored scaled:
        ``m = m_true / (1 - beta1)``, ``v = v_true / (1 - beta2)`` (see softgrad.optim.Adam)."""
        root_bias2 = math.sqrt(1.0 - beta2**step)
        root_decay2 = math.sqrt(1.0 - beta2)
        step_size = lr * root_bias2 * (1.0 - beta1) / ((1.0 - beta1**step) * root_decay2)
        eps_hat = eps * (1.0 if fold_bias_correction else root_bias2) / root_decay2
        cast = param.dtype.type
        numba_updates.adam(
            param,
            grad,
            m,
            v,
            cast(beta1),
            cast(beta2),
            cast(step_size),
            cast(eps_hat),
            cast(0.0 if decoupled else weight_decay),
            cast(1.0 - lr * weight_decay if decoupled else 1.0),
        )

    def gather_rows(self, x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[i] = x[idx[i]]`` (indices clipped to the rows, as ``np.take(mode="clip")``)."""
        x2, out2 = _as_rows(x, out)
        numba_gather.gather_rows(x2, idx, out2)
        return out

    def gather_rows_scaled(
        self,
        x: np.ndarray,
        idx: np.ndarray,
        offset: np.ndarray | float,
        scale: np.ndarray | float,
        out: np.ndarray,
    ) -> np.ndarray:
        """``out[i] = (x[idx[i]] - offset) * scale`` in out's dtype: a Scaler folded into the
        gather, so stored uint8 rows are scaled on the fly."""
        x2, out2 = _as_rows(x, out)
        offset = np.asarray(offset, dtype=out.dtype).reshape(-1)
        scale = np.asarray(scale, dtype=out.dtype).reshape(-1)
        if offset.size != 1 or scale.size != 1:  # per-feature: both (D,)
            offset, scale = (
                np.ascontiguousarray(np.broadcast_to(v, x2.shape[1:])) for v in (offset, scale)
            )
        numba_gather.gather_rows_scaled(x2, idx, offset, scale, out2)
        return out

    def bias_activation(self, y: np.ndarray, b: np.ndarray | None, activation: str) -> np.ndarray:
        """``y = f(y + b)`` in place on an (N, H) product; ``activation`` names f.

        tanh is NumPy's: its vectorised tanh beat the scalar libm tanh a Numba loop calls
        (at 128 x 100 float32: 42 us against 213 us on one thread), so only the bias add
        runs here for it.
        """
        bias = b if b is not None else y[:0, :].reshape(0)
        kind = numba_activations.ACTIVATIONS[activation]
        if kind == numba_activations.TANH:
            numba_activations.bias_activation(y, bias, numba_activations.IDENTITY)
            np.tanh(y, out=y)
        else:
            numba_activations.bias_activation(y, bias, kind)
        return y

    def activation_backward(
        self, y: np.ndarray, grad_y: np.ndarray, activation: str, out: np.ndarray
    ) -> np.ndarray:
        """``out = grad_y * f'(y)`` from the output ``y``; ``out`` may be ``grad_y``."""
        numba_activations.activation_backward(
            y.reshape(-1),
            grad_y.reshape(-1),
            numba_activations.ACTIVATIONS[activation],
            out.reshape(-1),
        )
        return out

    def softmax_cross_entropy(
        self,
        logits: np.ndarray,
        target: np.ndarray,
        grad: np.ndarray,
        reduction: str = "mean",
        weight: np.ndarray | None = None,
    ) -> tuple[float, float] | None:
        """(loss, correct) and the gradient written into ``grad`` (may be ``logits``), one pass.

        ``reduction`` is "mean" (sum / N, or sum(w * loss) / sum(w) with per-sample weights)
        or "sum"; ``correct`` counts (or weighs) the rows whose argmax is the target. The loss
        is rounded to the logits' dtype as the NumPy lane's is. None when a target is out of
        range: the caller then takes the NumPy lane, which reports it.
        """
        n_rows = logits.shape[0]
        if weight is None:
            weights = np.empty(0)
            divisor = float(n_rows)
        else:
            weights = np.asarray(weight, dtype=np.float64)
            divisor = float(np.sum(weights))
        scale = 1.0 / divisor if reduction == "mean" and divisor > 0 else 1.0
        loss, correct = numba_losses.softmax_cross_entropy(logits, target, weights, scale, grad)
        if correct < 0:
            return None
        with np.errstate(over="ignore"):  # as the NumPy lane: an unrepresentable loss is inf
            return float(logits.dtype.type(loss)), correct


def _as_rows(x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) and (B, D) views of samples of any shape (N, ...) and their batch (B, ...)."""
    n_features = math.prod(x.shape[1:])
    return x.reshape(x.shape[0], n_features), out.reshape(out.shape[0], n_features)

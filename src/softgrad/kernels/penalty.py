"""NumPy kernels: the L2 penalty on weights (scikit-learn's ``alpha``)."""

from __future__ import annotations

import numpy as np

__all__ = ["DOT_CHUNK", "PenaltyKernels", "penalty_loss"]


# a float32 BLAS dot accumulates in float32: over 2**16 elements its relative error stays near
# 1e-7 on every OpenBLAS kernel, over 2e7 it reached 9e-5 (SkylakeX) to 7e-4 (Prescott)
DOT_CHUNK = 1 << 16


def penalty_loss(param: np.ndarray, scale: float) -> float:
    """The L2 penalty's loss term ``0.5 * scale * sum(W * W)``, for both lanes'
    :meth:`PenaltyKernels.l2_penalty` and SGD's folded steps (softgrad.training.folded_step).

    One BLAS dot for a float64 array or one of at most ``DOT_CHUNK`` elements; a larger float32
    array (784 x 100 already) is summed a chunk's dot at a time in float64, so the term stays
    within about 1e-7 of exact whatever its size, for about 2 us more a step at 784 x 100. (One
    dot of 2e7 float32 weights was 7e-4 off: a loss that ``tol`` and early stopping compare.)
    """
    flat = param.reshape(-1)
    if flat.dtype.itemsize >= 8 or flat.size <= DOT_CHUNK:
        return 0.5 * scale * float(np.dot(flat, flat))
    total = 0.0
    for start in range(0, flat.size, DOT_CHUNK):
        chunk = flat[start : start + DOT_CHUNK]
        total += float(np.dot(chunk, chunk))
    return 0.5 * scale * total


class PenaltyKernels:
    """NumpyOps mixin: L2 penalty added to a gradient and to a loss."""

    def l2_penalty(
        self, param: np.ndarray, grad: np.ndarray, scale: float, scratch: np.ndarray
    ) -> float:
        """grad += scale * W in place; returns the loss term 0.5 * scale * sum(W * W).

        With ``scale = alpha / sum(w)`` (w the batch's sample weights, 1 each by default) this
        is scikit-learn's MLP penalty ``alpha * ||W||^2 / (2 sum(w))`` and its gradient.

        Parameters
        ----------
        param, grad, scratch : ndarray of the same shape and dtype
        scale : float

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> W, g = np.array([1.0, 2.0]), np.zeros(2)
        >>> get_ops().l2_penalty(W, g, 0.5, np.empty(2)), g  # 0.5 * 0.5 * 5
        (1.25, array([0.5, 1. ]))
        """
        np.multiply(param, scale, out=scratch)
        grad += scratch
        return penalty_loss(param, scale)

"""NumPy kernels: the L2 penalty on weights (scikit-learn's ``alpha``)."""

from __future__ import annotations

import numpy as np

__all__ = ["PenaltyKernels", "penalty_loss"]


def penalty_loss(param: np.ndarray, scale: float) -> float:
    """The L2 penalty's loss term ``0.5 * scale * sum(W * W)`` (one BLAS dot), for both lanes'
    :meth:`PenaltyKernels.l2_penalty` and SGD's folded steps (softgrad.training.folded_step)."""
    flat = param.reshape(-1)
    return 0.5 * scale * float(np.dot(flat, flat))


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

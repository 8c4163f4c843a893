"""Numba kernel: the L2 penalty's gradient term (scikit-learn's ``alpha``) in one pass.

The NumPy lane (:mod:`softgrad.kernels.penalty`) writes ``scale * W`` into a temporary and adds
it to the gradient: two passes and a third array. Here each element of the gradient is loaded,
updated and stored once. The loss term ``0.5 * scale * sum(W * W)`` stays a BLAS dot, as in the
NumPy lane. Measured here on the 78,400 float32 weights of a 784-100 layer: 9 us on the calling
thread, against 19 us of CPU for the NumPy lane's two passes; the same loop over Numba's threads
(``prange``) took 28-43 us of wall time on this shared 2-core machine, so it stays serial.
"""

from __future__ import annotations

import numpy as np

from softgrad.kernels.numba_threads import kernel
from softgrad.kernels.penalty import PenaltyKernels, penalty_loss

__all__ = ["NumbaPenaltyKernels", "add_scaled"]


@kernel
def add_scaled(grad, param, scale):
    """``grad += scale * param`` in one pass on the calling thread; 1-d C-contiguous arrays of
    one dtype, ``scale`` a scalar of that dtype."""
    for i in range(grad.size):
        grad[i] = grad[i] + scale * param[i]


class NumbaPenaltyKernels(PenaltyKernels):
    """NumbaOps mixin: :meth:`l2_penalty` with the gradient term in one fused pass."""

    def l2_penalty(
        self, param: np.ndarray, grad: np.ndarray, scale: float, scratch: np.ndarray
    ) -> float:
        """grad += scale * W in place (one pass, ``scratch`` unused); returns the loss term
        0.5 * scale * sum(W * W). The NumPy lane's signature and result to a rounding; arrays
        other than C-contiguous float32/float64 of one dtype go to the NumPy lane.

        Examples
        --------
        >>> W, g = np.array([1.0, 2.0]), np.zeros(2)
        >>> NumbaPenaltyKernels().l2_penalty(W, g, 0.5, np.empty(2)), g
        (1.25, array([0.5, 1. ]))
        """
        if not (
            param.dtype == grad.dtype
            and param.dtype in (np.float32, np.float64)
            and param.shape == grad.shape
            and param.flags.c_contiguous
            and grad.flags.c_contiguous
            and grad.flags.writeable
        ):
            return super().l2_penalty(param, grad, scale, scratch)
        add_scaled(grad.reshape(-1), param.reshape(-1), param.dtype.type(scale))
        return penalty_loss(param, scale)

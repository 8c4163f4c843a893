"""NumPy kernel: label smoothing of target probabilities, shared by the softmax and the sigmoid
cross-entropies.

With eps the smoothing and K the number of outcomes each target spreads over (C classes for
the softmax, the two outcomes of each output for the sigmoid)::

    t' = (1 - eps) * t + eps / K
"""

from __future__ import annotations

import numpy as np


class TargetKernels:
    """NumpyOps mixin: label smoothing of probability targets."""

    def smooth_targets(
        self, target: np.ndarray, eps: float, n_outcomes: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``t' = (1 - eps) * t + eps / K`` into ``out`` (fresh if None; may be ``target``).

        Parameters
        ----------
        target : ndarray of any shape, float
            Probabilities.
        eps : float
            The label smoothing, in [0, 1].
        n_outcomes : int
            K: the classes a row of t spreads over (2 for a sigmoid output).
        out : ndarray of target's shape, optional

        Returns
        -------
        out, or a fresh array of target's dtype

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> get_ops().smooth_targets(np.array([[1.0, 0.0]]), 0.1, 2)
        array([[0.95, 0.05]])
        """
        # multiply, then add: each caller's two roundings, in its order
        out = np.multiply(target, 1.0 - eps, out=out)
        out += eps / n_outcomes
        return out

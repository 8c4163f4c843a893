"""NumPy kernels: label smoothing of targets, shared by the softmax and the sigmoid
cross-entropies.

With eps the smoothing and K the number of outcomes each target spreads over (C classes for
the softmax, the two outcomes of each output for the sigmoid), probability targets become::

    t' = (1 - eps) * t + eps / K

and class indices y, with class weights w (all ones when absent), one row each::

    t'[n] = (1 - eps) * w[y_n] * onehot(y_n) + (eps / C) * w
"""

from __future__ import annotations

import numpy as np


class TargetKernels:
    """NumpyOps mixin: label smoothing of probability targets and of class indices."""

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

    def smooth_class_targets(
        self,
        target: np.ndarray,
        eps: float,
        n_classes: int,
        dtype: np.dtype,
        weight: np.ndarray | None = None,
        row_weight: np.ndarray | None = None,
        valid: np.ndarray | None = None,
    ) -> np.ndarray:
        """``t'[n] = (1 - eps) w[y_n] onehot(y_n) + (eps / C) w``: class indices as smoothed,
        weighted target distributions, one row each.

        Parameters
        ----------
        target : ndarray of shape (M,), int
            Class indices in [0, C); an ignored row's index must still be in range (its row
            is zeroed).
        eps : float
            The label smoothing, in [0, 1].
        n_classes : int
            C.
        dtype : dtype
            The rows' float dtype.
        weight : ndarray of shape (C,), optional
            The class weights w (None: all ones).
        row_weight : ndarray of shape (M,), optional
            ``w[y_n]``, 0 for an ignored row (None: all ones). The caller passes it because it
            computes it for the loss's divisor too.
        valid : ndarray of shape (M,), bool, optional
            False for an ignored row, which becomes all zeros (None: every row counts).

        Returns
        -------
        ndarray of shape (M, C), dtype

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> get_ops().smooth_class_targets(np.array([2, 0]), 0.3, 3, np.dtype(np.float64))
        array([[0.1, 0.1, 0.8],
               [0.8, 0.1, 0.1]])
        """
        # the share first (weighted), then the index's part added: the roundings of
        # share * w + (1 - eps) * w[y], as cross-entropy's gradient formula writes them
        share = np.full(n_classes, eps / n_classes, dtype)
        if weight is not None:
            share *= weight
        n_rows = target.shape[0]
        out = np.tile(share, (n_rows, 1))
        out[np.arange(n_rows), target] += (1.0 - eps) * (1.0 if row_weight is None else row_weight)
        if valid is not None:
            out[~valid] = 0.0
        return out

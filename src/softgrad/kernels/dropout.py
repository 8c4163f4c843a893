"""NumPy kernel: inverted dropout's mask, from uniform draws.

::

    mask = (u >= p) / (1 - p)       y = x * mask       grad_x = g * mask

so that a kept unit is scaled by 1 / (1 - p) and the expectation of y is x. The draws are the
layer's (its own generator): this kernel only turns them into the mask.
"""

from __future__ import annotations

import numpy as np


class DropoutKernels:
    """NumpyOps mixin: inverted dropout."""

    def dropout_mask(self, uniform: np.ndarray, p: float, dtype: np.dtype) -> np.ndarray:
        """``mask = (u >= p) / (1 - p)`` in ``dtype``, written over ``uniform`` (float32 or
        float64) and cast once if ``dtype`` is another.

        Parameters
        ----------
        uniform : ndarray of any shape, float32 or float64
            Draws in [0, 1), overwritten.
        p : float
            The drop probability, in [0, 1]; p = 1 drops every unit (a mask of zeros).
        dtype : dtype
            The mask's dtype (the input's).

        Returns
        -------
        mask : ndarray of uniform's shape and ``dtype``

        Examples
        --------
        >>> from softgrad.kernels import get_ops
        >>> get_ops().dropout_mask(np.array([0.1, 0.6, 0.5]), 0.5, np.dtype(np.float64))
        array([0., 2., 2.])
        """
        keep = np.greater_equal(uniform, p)
        scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
        return np.multiply(keep, scale, out=uniform).astype(dtype, copy=False)

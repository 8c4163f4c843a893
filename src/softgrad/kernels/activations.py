"""NumPy kernels: activation forward and backward."""

from __future__ import annotations


class ActivationKernels:
    """NumpyOps mixin: activation forward and backward."""

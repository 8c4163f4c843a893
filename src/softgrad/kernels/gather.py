"""NumPy kernels: the batch gather."""

from __future__ import annotations


class GatherKernels:
    """NumpyOps mixin: the batch gather."""

"""NumPy kernels: optimizer updates on flat buffers."""

from __future__ import annotations


class UpdateKernels:
    """NumpyOps mixin: optimizer updates on flat buffers."""

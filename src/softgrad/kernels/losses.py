"""NumPy kernels: softmax-cross-entropy loss and gradient."""

from __future__ import annotations


class LossKernels:
    """NumpyOps mixin: softmax-cross-entropy loss and gradient."""

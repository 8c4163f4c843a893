"""NumPy kernels: softmax, log-softmax and logsumexp normalisation."""

from __future__ import annotations


class SoftmaxKernels:
    """NumpyOps mixin: softmax, log-softmax and logsumexp normalisation."""

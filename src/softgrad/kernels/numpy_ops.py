"""NumpyOps: the NumPy implementation of the kernel seam, one mixin per concept."""

from __future__ import annotations

import numpy as np

from softgrad.kernels.activations import ActivationKernels
from softgrad.kernels.bound import BoundKernels
from softgrad.kernels.dropout import DropoutKernels
from softgrad.kernels.gather import GatherKernels
from softgrad.kernels.logistic import LogisticKernels
from softgrad.kernels.losses import LossKernels
from softgrad.kernels.nll import NLLKernels
from softgrad.kernels.penalty import PenaltyKernels
from softgrad.kernels.sgd_fold import SGDFoldKernels
from softgrad.kernels.softmax import SoftmaxKernels
from softgrad.kernels.targets import TargetKernels
from softgrad.kernels.updates import UpdateKernels


class NumpyOps(
    SoftmaxKernels,
    LossKernels,
    NLLKernels,
    ActivationKernels,
    UpdateKernels,
    GatherKernels,
    LogisticKernels,
    PenaltyKernels,
    BoundKernels,
    SGDFoldKernels,
    TargetKernels,
    DropoutKernels,
):
    """The NumPy lane: every routine as a few ufunc passes with ``out=`` buffers."""

    name = "numpy"
    xp = np

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

"""softgrad: neural networks in NumPy, built on an exact, fast and numerically safe softmax.

The softmax calculus is re-exported here from :mod:`softgrad.functional`; layers live in
:mod:`softgrad.nn`, optimizers in :mod:`softgrad.optim`. Names are imported on first use so that
``import softgrad`` stays cheap (no matplotlib, scikit-learn or onnx until they are needed).

Shape legend used in every docstring: N samples, D input features, H hidden units, C classes,
``...`` any leading dimensions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    **{
        name: "softgrad.functional"
        for name in (
            "softmax",
            "log_softmax",
            "logsumexp",
            "softmax_jacobian",
            "softmax_vjp",
            "softmax_jvp",
            "log_softmax_jacobian",
            "log_softmax_vjp",
            "log_softmax_jvp",
            "cross_entropy",
            "cross_entropy_grad",
            "nll_loss",
            "nll_loss_grad",
            "relu",
            "relu_vjp",
            "sigmoid",
            "sigmoid_vjp",
            "tanh",
            "tanh_vjp",
        )
    },
    "GradcheckResult": "softgrad.gradcheck",
    "check_adjoint": "softgrad.gradcheck",
    "check_softmax_jacobian": "softgrad.gradcheck",
    "Model": "softgrad.model",
    "load": "softgrad.model",
    "save": "softgrad.model",
    "fit": "softgrad.training",
    "export_onnx": "softgrad.onnx_export",
    "load_data": "softgrad.datasets",
    "Dataset": "softgrad.datasets",
    "Scaler": "softgrad.preprocessing",
    "set_kernels": "softgrad.kernels",
    "set_threads": "softgrad.kernels",
}

# subpackages reachable as ``softgrad.<name>`` after a plain ``import softgrad``. ``gradcheck`` is
# both the module and its main function: the module is callable (``softgrad.gradcheck(f, x)``) and
# still holds ``check_adjoint`` and the rest, whichever way it was imported first.
_SUBMODULES = (
    "datasets",
    "errors",
    "functional",
    "gradcheck",
    "kernels",
    "metrics",
    "nn",
    "optim",
    "plots",
    "preprocessing",
    "serialization",
    "sklearn",
    "training",
)

# reachable as softgrad.sklearn, never bound by `from softgrad import *`, which would hide the
# user's scikit-learn under its name
_NOT_STARRED = ("sklearn",)

__all__ = sorted([*_LAZY, *(m for m in _SUBMODULES if m not in _NOT_STARRED), "__version__"])


if TYPE_CHECKING:
    # What __getattr__ returns, for type checkers: without these, every name below is Any to
    # them, and a wrong call (softgrad.load(3), softgrad.softmax("x")) went unflagged.
    from softgrad import datasets as datasets
    from softgrad import errors as errors
    from softgrad import functional as functional
    from softgrad import kernels as kernels
    from softgrad import metrics as metrics
    from softgrad import nn as nn
    from softgrad import optim as optim
    from softgrad import plots as plots
    from softgrad import preprocessing as preprocessing
    from softgrad import serialization as serialization
    from softgrad import sklearn as sklearn
    from softgrad import training as training
    from softgrad.datasets import Dataset as Dataset
    from softgrad.datasets import load_data as load_data
    from softgrad.functional import cross_entropy as cross_entropy
    from softgrad.functional import cross_entropy_grad as cross_entropy_grad
    from softgrad.functional import log_softmax as log_softmax
    from softgrad.functional import log_softmax_jacobian as log_softmax_jacobian
    from softgrad.functional import log_softmax_jvp as log_softmax_jvp
    from softgrad.functional import log_softmax_vjp as log_softmax_vjp
    from softgrad.functional import logsumexp as logsumexp
    from softgrad.functional import nll_loss as nll_loss
    from softgrad.functional import nll_loss_grad as nll_loss_grad
    from softgrad.functional import relu as relu
    from softgrad.functional import relu_vjp as relu_vjp
    from softgrad.functional import sigmoid as sigmoid
    from softgrad.functional import sigmoid_vjp as sigmoid_vjp
    from softgrad.functional import softmax as softmax
    from softgrad.functional import softmax_jacobian as softmax_jacobian
    from softgrad.functional import softmax_jvp as softmax_jvp
    from softgrad.functional import softmax_vjp as softmax_vjp
    from softgrad.functional import tanh as tanh
    from softgrad.functional import tanh_vjp as tanh_vjp
    from softgrad.gradcheck import GradcheckResult as GradcheckResult
    from softgrad.gradcheck import _CallableModule
    from softgrad.gradcheck import check_adjoint as check_adjoint
    from softgrad.gradcheck import check_softmax_jacobian as check_softmax_jacobian
    from softgrad.kernels import set_kernels as set_kernels
    from softgrad.kernels import set_threads as set_threads
    from softgrad.model import Model as Model
    from softgrad.model import load as load
    from softgrad.model import save as save
    from softgrad.onnx_export import export_onnx as export_onnx
    from softgrad.preprocessing import Scaler as Scaler
    from softgrad.training.fit import fit as fit

    # the module, callable as the function (softgrad/gradcheck/__init__.py)
    gradcheck: _CallableModule


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"softgrad.{name}")
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'softgrad' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute access
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))

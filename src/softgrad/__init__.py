"""softgrad: neural networks in NumPy, built on an exact, fast and numerically safe softmax.

The softmax calculus is re-exported here from :mod:`softgrad.functional`; layers live in
:mod:`softgrad.nn`, optimizers in :mod:`softgrad.optim`. Names are imported on first use so that
``import softgrad`` stays cheap (no matplotlib, scikit-learn or onnx until they are needed).

Shape legend used in every docstring: N samples, D input features, H hidden units, C classes,
``...`` any leading dimensions.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "functional",
    "gradcheck",
    "metrics",
    "nn",
    "optim",
    "plots",
    "preprocessing",
    "serialization",
    "training",
)

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


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

"""Optimizers and learning-rate schedules.

Optimizers update parameters in place from ``step(params, grads)``, both dicts keyed by the
model's qualified parameter names (``model.named_params()``, ``model.named_grads()``); their
state can be saved with ``state_dict()`` and restored with ``load_state_dict()``. Schedules
wrap an optimizer and set its ``lr`` once per epoch with ``step(metric=None)``.

Examples
--------
>>> import numpy as np
>>> from softgrad.optim import SGD, StepLR
>>> params = {"0.W": np.ones(3, dtype=np.float32)}
>>> opt = SGD(lr=0.5)
>>> schedule = StepLR(opt, step_size=1, gamma=0.1)
>>> opt.step(params, {"0.W": np.ones(3, dtype=np.float32)})
>>> schedule.step()
>>> params["0.W"], opt.lr
(array([0.5, 0.5, 0.5], dtype=float32), 0.05)
"""

from softgrad.optim.adam import Adam, AdamW
from softgrad.optim.optimizer import Optimizer
from softgrad.optim.plateau import AdaptiveLR, ReduceLROnPlateau
from softgrad.optim.schedules import (
    ConstantLR,
    CosineLR,
    InvScalingLR,
    LambdaLR,
    LRSchedule,
    StepLR,
)
from softgrad.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "AdaptiveLR",
    "ConstantLR",
    "CosineLR",
    "InvScalingLR",
    "LRSchedule",
    "LambdaLR",
    "Optimizer",
    "ReduceLROnPlateau",
    "StepLR",
]

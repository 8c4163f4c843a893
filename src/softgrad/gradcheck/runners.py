"""How gradcheck runs what it checks: a function with its VJP, or a softgrad Layer.

A runner evaluates the checked thing afresh at a point and returns the raw gradients its backward
produced; the comparison and the diagnosis (:mod:`softgrad.gradcheck.check`) do not care what it
is. The runner for a user's own object is in :mod:`softgrad.gradcheck.user_objects`.

Every runner has ``name``, ``notes`` (what the check had to assume), ``params`` (the float64
parameter arrays that central differences perturb in place; filled by the first ``gradients``
call), ``grad_names`` (where each parameter's gradient is expected, for messages),
``forward(x) -> y``, ``gradients(x, g) -> (grad_x, {name: grad})`` and ``close()``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.nn.layer import Layer


class FunctionRunner:
    """A plain function ``f(x) -> y`` checked through ``vjp(x, g) -> grad_x``."""

    def __init__(self, f: Callable[[np.ndarray], Any], vjp: Callable[..., Any], name: str):
        self.name = name
        self.notes: list[str] = []
        self.params: dict[str, np.ndarray] = {}
        self.grad_names: dict[str, str] = {}
        self._f, self._vjp = f, vjp

    def forward(self, x: np.ndarray) -> Any:
        return self._f(x)

    def gradients(self, x: np.ndarray, g: Any) -> tuple[Any, dict[str, Any]]:
        return self._vjp(x, g), {}

    def close(self) -> None:
        """Nothing to restore: the function was only called."""


class LayerRunner:
    """A softgrad Layer (or Sequential, or loss layer) on float64 deep copies.

    ``copy.deepcopy(layer).astype(np.float64)`` is the base; every evaluation runs on a fresh
    deep copy of it, so a layer with randomness (Dropout in training mode) draws the same mask
    each time and the caller's layer is never touched.
    """

    def __init__(self, layer: Layer, target: Any, name: str, check_params: bool):
        self.name = name
        self.notes: list[str] = []
        self._base = copy.deepcopy(layer).astype(np.float64)
        self._target = target
        self.params: dict[str, np.ndarray] = dict(self._base.params) if check_params else {}
        self.grad_names = {key: f"grads[{key!r}]" for key in self.params}

    def _run(self, x: np.ndarray) -> tuple[Layer, Any]:
        layer = copy.deepcopy(self._base)
        y = layer.forward(x) if self._target is None else layer.forward(x, self._target)
        return layer, y

    def forward(self, x: np.ndarray) -> Any:
        return self._run(x)[1]

    def gradients(self, x: np.ndarray, g: Any) -> tuple[Any, dict[str, Any]]:
        layer, _ = self._run(x)
        grad_x = layer.backward(g)
        return grad_x, {key: layer.grads.get(key) for key in self.params}

    def close(self) -> None:
        """Nothing to restore: only copies were run."""

"""How gradcheck runs what it checks: a function with its VJP.

A runner evaluates the checked thing afresh at a point and returns the raw gradients its backward
produced; the comparison and the diagnosis (:mod:`softgrad.gradcheck.check`) do not care what it
is. The runner for an object with forward and backward, a softgrad Layer or the user's own node,
is in :mod:`softgrad.gradcheck.user_objects`.

Every runner has ``name``, ``notes`` (what the check had to assume), ``params`` (the float64
parameter arrays that central differences perturb in place; filled by the first ``gradients``
call), ``grad_names`` (where each parameter's gradient is expected, for messages),
``output_changed`` (whether the last ``gradients`` call's backward changed the array forward
returned), ``x_changed`` (whether it changed x: the caller's array, which the layer below still
reads), ``forward(x) -> y``, ``gradients(x, g) -> (grad_x, {name: grad})`` and ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.errors import UserCodeError


def call_quoted(label: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``: the user's code, whose exception (sys.exit too) is raised again as a
    UserCodeError quoting it, ``label`` naming what raised (``"MySoftmax.backward"``)."""
    try:
        return function(*args)
    except (Exception, SystemExit) as exc:
        raise UserCodeError(f"gradcheck: {label} raised {type(exc).__name__}: {exc}") from exc


class FunctionRunner:
    """A plain function ``f(x) -> y`` checked through ``vjp(x, g) -> grad_x``."""

    def __init__(self, f: Callable[[np.ndarray], Any], vjp: Callable[..., Any], name: str):
        self.name = name
        self.notes: list[str] = []
        self.params: dict[str, np.ndarray] = {}
        self.grad_names: dict[str, str] = {}
        self.output_changed = False  # vjp is not given f's output
        self.x_changed = False  # by the last gradients call's vjp
        self._f, self._vjp = f, vjp

    def forward(self, x: np.ndarray) -> Any:
        return call_quoted(f"f ({self.name})", self._f, x)

    def gradients(self, x: np.ndarray, g: Any) -> tuple[Any, dict[str, Any]]:
        given_x = x.copy()
        grad_x = call_quoted(f"vjp ({self.name})", self._vjp, x, g)
        self.x_changed = not np.array_equal(x, given_x, equal_nan=True)
        return grad_x, {}

    def close(self) -> None:
        """Nothing to restore: the function was only called."""

"""gradcheck: analytic vector-Jacobian products against float64 central differences."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.gradcheck.result import (
    GradcheckResult,
    as_float64,
    check_settings,
    compare,
)
from softgrad.nn.layer import Layer, as_generator
from softgrad.nn.loss import Loss


def _central_differences(phi: Callable[[], float], array: np.ndarray, eps: float) -> np.ndarray:
    """d phi / d array by central differences, perturbing ``array`` in place (then restoring)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat_grad = grad.reshape(-1)
    for flat, index in enumerate(np.ndindex(array.shape)):
        original = array[index]
        array[index] = original + eps
        plus = phi()
        array[index] = original - eps
        minus = phi()
        array[index] = original
        flat_grad[flat] = (plus - minus) / (2.0 * eps)
    return grad


def gradcheck(
    f: Any,
    x: Any,
    *,
    target: Any = None,
    vjp: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    rng: Any = None,
    check_params: bool = True,
    name: str | None = None,
) -> GradcheckResult:
    """Compare analytic gradients with float64 central differences.

    With a random cotangent g (standard normal, the shape of f's output) the scalar
    ``phi = sum(g * f(x))`` has gradient ``vjp(g)``; each entry is compared with
    ``(phi(x + eps e_i) - phi(x - eps e_i)) / (2 eps)``, for x and (``check_params``) every
    parameter of a layer or network.

    Parameters
    ----------
    f : Layer, Sequential, loss layer, or callable
        A layer or network is checked through its ``backward``, on a float64 deep copy
        (``copy.deepcopy(f).astype(np.float64)``; f itself is never modified). A loss layer
        (CrossEntropyLoss, NLLLoss) is called as ``f(x, target)``. A plain callable
        ``f(x) -> y`` must come with ``vjp``.
    x : array_like of shape S
        The point at which to check (finite; converted to float64).
    target : array_like, optional
        The target of a loss layer (required for one, refused otherwise).
    vjp : callable, optional
        For a plain callable: ``vjp(x, g) -> grad_x`` of shape S, the gradient of
        ``sum(g * f(x))`` with respect to x.
    eps : float, default 1e-6
        Finite-difference step.
    atol, rtol : float, default 1e-5, 1e-4
        An entry passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    rng : numpy.random.Generator or int or None
        Source of g. None means a fixed seed (0), so that a report is reproducible.
    check_params : bool, default True
        Also check every parameter gradient (``"W"``, ``"b"``; ``"0.W"`` ... for a Sequential).
    name : str, optional
        Name shown in the report (default: the class or function name).

    Returns
    -------
    GradcheckResult
        ``.ok``, ``.max_abs_err``, ``.max_rel_err``, ``.worst_index`` and one Check per
        quantity: ``"x"`` first, then the parameters.

    Notes
    -----
    Each evaluation runs on a fresh deep copy of the float64 layer, so a layer with randomness
    (Dropout in training mode) draws the same mask every time. The number of forward passes is
    2 * (x.size + number of parameters): keep the checked shapes small.

    Examples
    --------
    >>> from softgrad.nn import Linear
    >>> result = gradcheck(Linear(3, 2, rng=0), np.ones((4, 3)), rng=0)
    >>> result.ok, [check.name for check in result.checks]
    (True, ['x', 'W', 'b'])
    >>> gradcheck(np.sin, np.array([0.5, 1.0]), vjp=lambda x, g: g * np.cos(x)).ok
    True
    """
    where = "gradcheck"
    eps, atol, rtol = check_settings(where, eps, atol, rtol)
    x64 = as_float64(x, where)
    g_rng = as_generator(0 if rng is None else rng, where)
    is_loss = isinstance(f, Loss)
    if is_loss and target is None:
        raise ValueError(f"{where}: target must be given for a loss layer; got None")
    if not is_loss and target is not None:
        raise ValueError(f"{where}: target must be None unless f is a loss layer; got {target!r}")
    if isinstance(f, Layer):
        if vjp is not None:
            raise ValueError(f"{where}: vjp must be None for a layer (its backward is checked)")
        return _check_layer(f, x64, target, g_rng, eps, atol, rtol, check_params, name)
    if not callable(f):
        raise TypeError(f"{where}: f must be a Layer or a callable; got {f!r}")
    if not callable(vjp):
        raise TypeError(
            f"{where}: vjp must be a callable vjp(x, g) for a plain function; got {vjp!r}"
        )
    label = (
        name or getattr(f, "__name__", None) or getattr(getattr(f, "func", None), "__name__", "f")
    )
    g = g_rng.standard_normal(np.shape(f(x64.copy())))
    analytic = vjp(x64.copy(), g.copy())
    numeric = _central_differences(lambda: float(np.sum(g * f(x64.copy()))), x64, eps)
    return GradcheckResult(label, (compare("x", analytic, numeric, atol, rtol),), eps, atol, rtol)


def _check_layer(
    f: Layer,
    x64: np.ndarray,
    target: Any,
    g_rng: np.random.Generator,
    eps: float,
    atol: float,
    rtol: float,
    check_params: bool,
    name: str | None,
) -> GradcheckResult:
    """gradcheck for a Layer (or loss layer) on a float64 deep copy."""
    base = copy.deepcopy(f).astype(np.float64)

    def run(x_in: np.ndarray) -> tuple[Layer, Any]:
        layer = copy.deepcopy(base)
        y = layer.forward(x_in) if target is None else layer.forward(x_in, target)
        return layer, y

    layer, y = run(x64.copy())
    g = g_rng.standard_normal(np.shape(y))
    analytic_x = layer.backward(g if np.ndim(y) else float(g))
    analytic_params = layer.grads

    def phi() -> float:
        return float(np.sum(g * run(x64)[1]))

    checks = [compare("x", analytic_x, _central_differences(phi, x64, eps), atol, rtol)]
    if check_params:
        for param_name, array in base.params.items():
            numeric = _central_differences(phi, array, eps)
            checks.append(compare(param_name, analytic_params.get(param_name), numeric, atol, rtol))
    return GradcheckResult(name or type(f).__name__, tuple(checks), eps, atol, rtol)

"""The adjoint identity and the softmax Jacobian's invariants, checked without finite
differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad import functional as F
from softgrad.gradcheck.result import (
    Check,
    GradcheckResult,
    as_float64,
    check_settings,
    compare,
    failed_check,
)
from softgrad.nn.layer import Seed, as_generator


def check_adjoint(
    jvp: Callable[[np.ndarray], np.ndarray],
    vjp: Callable[[np.ndarray], np.ndarray],
    x_shape: tuple[int, ...],
    *,
    rng: Seed = None,
    n_trials: int = 3,
    atol: float = 1e-12,
    rtol: float = 1e-6,
    name: str = "adjoint",
) -> GradcheckResult:
    """Check the adjoint identity ``sum(u * jvp(v)) == sum(vjp(u) * v)`` for random u, v.

    Parameters
    ----------
    jvp : callable
        ``v`` of shape ``x_shape`` -> J v of the output's shape (J taken at a fixed point).
    vjp : callable
        ``u`` of the output's shape -> u^T J of shape ``x_shape``.
    x_shape : tuple of int
        Shape of the input (tangent) space.
    rng : numpy.random.Generator or int or None
        Source of u and v (None: fixed seed 0).
    n_trials : int, default 3
        Number of random (u, v) pairs, one Check each (``"trial 0"`` ...).
    atol, rtol : float
        A trial passes when ``|lhs - rhs| <= atol + rtol * scale``, with scale the sum of
        ``|u * jvp(v)|`` (the size of the terms being summed, so cancellation does not make
        the test impossibly strict).
    name : str, default "adjoint"

    Returns
    -------
    GradcheckResult
        Each Check has ``actual = sum(vjp(u) * v)`` and ``expected = sum(u * jvp(v))``.

    Examples
    --------
    >>> s = F.softmax(np.array([1.0, 2.0, 3.0]))
    >>> check_adjoint(lambda v: F.softmax_jvp(s, v), lambda u: F.softmax_vjp(s, u), (3,)).ok
    True
    """
    where = "check_adjoint"
    _, atol, rtol = check_settings(where, 1.0, atol, rtol)
    if not callable(jvp) or not callable(vjp):
        raise TypeError(f"{where}: jvp and vjp must be callables; got {jvp!r}, {vjp!r}")
    try:
        shape = tuple(int(d) for d in x_shape)
    except TypeError:
        raise TypeError(f"{where}: x_shape must be a tuple of ints; got {x_shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{where}: x_shape must hold non-negative ints; got {x_shape!r}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"{where}: n_trials must be a positive int; got {n_trials!r}")
    generator = as_generator(0 if rng is None else rng, where)
    checks = []
    for trial in range(n_trials):
        v = generator.standard_normal(shape)
        jv = _product(jvp(v.copy()), "jvp", where)
        u = generator.standard_normal(jv.shape)
        uj = _product(vjp(u.copy()), "vjp", where)
        label = f"trial {trial}"
        if uj.shape != shape:
            checks.append(
                failed_check(label, shape, f"vjp gave shape {uj.shape}, expected {shape}")
            )
            continue
        lhs, rhs = float(np.sum(u * jv)), float(np.sum(uj * v))
        scale = max(float(np.sum(np.abs(u * jv))), float(np.sum(np.abs(uj * v))))
        diff = abs(lhs - rhs)
        excess = diff - (atol + rtol * scale)
        rel = diff / max(abs(lhs), abs(rhs)) if max(abs(lhs), abs(rhs)) > atol else 0.0
        checks.append(Check(label, (), bool(excess <= 0), diff, rel, (), rhs, lhs, excess=excess))
    return GradcheckResult(name, tuple(checks), 0.0, atol, rtol)


def _product(value: Any, which: str, where: str) -> np.ndarray:
    """What ``jvp`` or ``vjp`` returned, as float64; a TypeError naming it when it is not an
    array of real numbers (None was read as NaN and failed every trial unexplained; a complex
    array lost its imaginary part)."""
    array = None if value is None else np.asarray(value)
    if array is None or array.dtype.kind not in "biuf":
        got = "None" if array is None else f"dtype {array.dtype}"
        raise TypeError(f"{where}: {which} must return an array of real numbers; got {got}")
    return array.astype(np.float64)


def check_softmax_jacobian(
    x: Any,
    axis: int = -1,
    *,
    rng: Seed = None,
    atol: float = 1e-12,
    rtol: float = 1e-9,
) -> GradcheckResult:
    """Check ``softmax_jacobian(x, axis)`` against its invariants, in float64.

    J[..., i, j] = s_i * (delta_ij - s_j) must be symmetric (``"symmetric"``), have rows that
    sum to 0 (``"rows sum to 0"``, since sum_j s_j = 1), equal ``diag(s) - s s^T`` built from
    ``softmax(x)`` (``"diag(s) - s s^T"``), and agree with the O(n) products:
    ``softmax_vjp(s, g) == g @ J`` and ``softmax_jvp(s, v) == J @ v`` for random g, v.

    Parameters
    ----------
    x : array_like of shape S
        Finite scores; S[axis] = n.
    axis : int, default -1
    rng : numpy.random.Generator or int or None
        Source of g and v (None: fixed seed 0).
    atol, rtol : float
        Entrywise tolerance ``atol + rtol * |expected|``.

    Returns
    -------
    GradcheckResult

    Examples
    --------
    >>> result = check_softmax_jacobian(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    >>> result.ok, [check.name for check in result.checks]
    (True, ['symmetric', 'rows sum to 0', 'diag(s) - s s^T', 'vjp == g @ J', 'jvp == J @ v'])
    """
    where = "check_softmax_jacobian"
    _, atol, rtol = check_settings(where, 1.0, atol, rtol)
    x64 = as_float64(x, where)
    if x64.ndim == 0:
        raise ValueError(f"{where}: x must have at least 1 dimension; got shape {x64.shape}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: axis must be an int; got {axis!r}")
    if not -x64.ndim <= axis < x64.ndim:
        raise ValueError(f"{where}: axis must be in [{-x64.ndim}, {x64.ndim}); got {axis!r}")
    generator = as_generator(0 if rng is None else rng, where)
    jac = np.asarray(F.softmax_jacobian(x64, axis=axis), dtype=np.float64)
    # s with the softmax axis moved last, matching J's (..., n, n) layout
    s = np.moveaxis(np.asarray(F.softmax(x64, axis=axis), dtype=np.float64), axis, -1)
    n = s.shape[-1]
    formula = s[..., :, None] * np.eye(n) - s[..., :, None] * s[..., None, :]
    g = generator.standard_normal(x64.shape)
    v = generator.standard_normal(x64.shape)
    s_axis = np.moveaxis(s, -1, axis)
    vjp = np.moveaxis(np.asarray(F.softmax_vjp(s_axis, g, axis=axis)), axis, -1)
    jvp = np.moveaxis(np.asarray(F.softmax_jvp(s_axis, v, axis=axis)), axis, -1)
    g_last, v_last = np.moveaxis(g, axis, -1), np.moveaxis(v, axis, -1)
    checks = (
        compare("symmetric", jac, np.swapaxes(jac, -1, -2), atol, rtol),
        compare("rows sum to 0", jac.sum(axis=-1), np.zeros(jac.shape[:-1]), atol, rtol),
        compare("diag(s) - s s^T", jac, formula, atol, rtol),
        compare("vjp == g @ J", vjp, np.einsum("...i,...ij->...j", g_last, jac), atol, rtol),
        compare("jvp == J @ v", jvp, np.einsum("...ij,...j->...i", jac, v_last), atol, rtol),
    )
    return GradcheckResult("softmax_jacobian", checks, 0.0, atol, rtol)

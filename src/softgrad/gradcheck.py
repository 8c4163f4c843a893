"""Gradient verification: central differences, the adjoint identity, the softmax Jacobian.

Three independent ways to trust a derivative:

* :func:`gradcheck` compares an analytic vector-Jacobian product (a layer's or network's
  ``backward``, or a function paired with its VJP) with float64 central differences of
  ``phi(x) = sum(g * f(x))`` for a random cotangent g, for the input and every parameter.
* :func:`check_adjoint` checks ``sum(u * jvp(v)) == sum(vjp(u) * v)`` for random u, v.
* :func:`check_softmax_jacobian` checks J = softmax_jacobian(x) against its invariants:
  symmetric, rows summing to 0, equal to ``diag(s) - s s^T``, and consistent with the VJP/JVP.

Each returns a :class:`GradcheckResult`: ``.ok``, the worst errors, and one :class:`Check` per
compared quantity (``"x"``, ``"W"``, ``"0.b"`` ...), printable as a table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad import functional as F
from softgrad.nn.layer import Layer, as_generator
from softgrad.nn.loss import Loss


@dataclass(frozen=True)
class Check:
    """The comparison of one quantity (an input gradient, a parameter gradient, an identity).

    Attributes
    ----------
    name : str
        What was compared: ``"x"``, ``"W"``, ``"0.W"``, ``"symmetric"`` ...
    shape : tuple of int
    ok : bool
        Every entry satisfies ``|actual - expected| <= atol + rtol * |expected|``.
    max_abs_err : float
        Largest ``|actual - expected|``.
    max_rel_err : float
        Largest ``|actual - expected| / max(|actual|, |expected|)`` over the entries whose
        magnitude exceeds atol (relative error of entries that are numerically zero means
        nothing).
    worst_index : tuple of int
        Index of the entry that is furthest outside (or least inside) its tolerance.
    actual, expected : float
        The two values at ``worst_index`` (analytic and numeric for a gradient).
    note : str
        Why a check failed without numbers (a missing gradient, a wrong shape), else "".
    """

    name: str
    shape: tuple[int, ...]
    ok: bool
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple[int, ...]
    actual: float
    expected: float
    note: str = ""
    excess: float = 0.0  # max(|actual - expected| - tolerance); > 0 means failure


@dataclass(frozen=True)
class GradcheckResult:
    """Outcome of :func:`gradcheck`, :func:`check_adjoint` or :func:`check_softmax_jacobian`.

    Attributes
    ----------
    name : str
        What was checked (a layer's or function's name).
    checks : tuple of Check
        One entry per compared quantity.
    eps, atol, rtol : float
        Settings used (eps is 0 when no finite differences were taken).
    """

    name: str
    checks: tuple[Check, ...]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def max_abs_err(self) -> float:
        """Largest absolute error over all checks."""
        return max((check.max_abs_err for check in self.checks), default=0.0)

    @property
    def max_rel_err(self) -> float:
        """Largest relative error over all checks."""
        return max((check.max_rel_err for check in self.checks), default=0.0)

    @property
    def worst(self) -> Check | None:
        """The check furthest outside (or least inside) its tolerance."""
        return max(self.checks, key=lambda check: check.excess, default=None)

    @property
    def worst_index(self) -> tuple[str, tuple[int, ...]] | None:
        """``(check name, index)`` of the worst entry, e.g. ``("0.W", (2, 1))``."""
        worst = self.worst
        return None if worst is None else (worst.name, worst.worst_index)

    def failed(self) -> list[str]:
        """Names of the checks that failed."""
        return [check.name for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (for ``--json`` output)."""
        return {
            "name": self.name,
            "ok": self.ok,
            "max_abs_err": self.max_abs_err,
            "max_rel_err": self.max_rel_err,
            "eps": self.eps,
            "atol": self.atol,
            "rtol": self.rtol,
            "checks": [
                {
                    "name": c.name,
                    "shape": list(c.shape),
                    "ok": c.ok,
                    "max_abs_err": c.max_abs_err,
                    "max_rel_err": c.max_rel_err,
                    "worst_index": list(c.worst_index),
                    "actual": c.actual,
                    "expected": c.expected,
                    "note": c.note,
                }
                for c in self.checks
            ],
        }

    def __str__(self) -> str:
        header = (
            "check",
            "shape",
            "max_abs_err",
            "max_rel_err",
            "worst_index",
            "actual",
            "expected",
            "status",
        )
        rows = [
            (
                c.name,
                str(c.shape),
                f"{c.max_abs_err:.2e}",
                f"{c.max_rel_err:.2e}",
                str(c.worst_index),
                f"{c.actual:.6g}",
                f"{c.expected:.6g}",
                "ok" if c.ok else f"FAIL {c.note}".rstrip(),
            )
            for c in self.checks
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        title = (
            f"{self.name}: {'ok' if self.ok else 'FAILED'} "
            f"(eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g})"
        )
        table = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        return "\n".join([title, *("  " + line.rstrip() for line in table)])


def _compare(name: str, actual: Any, expected: np.ndarray, atol: float, rtol: float) -> Check:
    """Entrywise comparison of ``actual`` with ``expected`` (float64) as a Check."""
    expected = np.asarray(expected, dtype=np.float64)
    if actual is None:
        return _failed(name, expected.shape, "no gradient was computed")
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != expected.shape:
        return _failed(name, expected.shape, f"shape {actual.shape} != {expected.shape}")
    if expected.size == 0:
        return Check(name, expected.shape, True, 0.0, 0.0, (), 0.0, 0.0, excess=-np.inf)
    diff = np.abs(actual - expected)
    diff[np.isnan(diff)] = np.inf
    excess = diff - (atol + rtol * np.abs(expected))
    worst = np.unravel_index(int(np.argmax(excess)), expected.shape)
    magnitude = np.maximum(np.abs(actual), np.abs(expected))
    meaningful = magnitude > atol
    rel = diff[meaningful] / magnitude[meaningful] if meaningful.any() else np.zeros(1)
    return Check(
        name=name,
        shape=expected.shape,
        ok=bool(np.all(excess <= 0)),
        max_abs_err=float(diff.max()),
        max_rel_err=float(rel.max()),
        worst_index=tuple(int(i) for i in worst),
        actual=float(actual[worst]),
        expected=float(expected[worst]),
        excess=float(excess[worst]),
    )


def _failed(name: str, shape: tuple[int, ...], note: str) -> Check:
    nan = float("nan")
    return Check(name, tuple(shape), False, np.inf, np.inf, (), nan, nan, note, excess=np.inf)


def _check_settings(where: str, eps: Any, atol: Any, rtol: Any) -> tuple[float, float, float]:
    for what, value, positive in (("eps", eps, True), ("atol", atol, False), ("rtol", rtol, False)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"{where}: {what} must be a real number; got {value!r}")
        if not np.isfinite(value) or value < 0 or (positive and value == 0):
            expected = "a positive finite number" if positive else "a finite number >= 0"
            raise ValueError(f"{where}: {what} must be {expected}; got {value!r}")
    return float(eps), float(atol), float(rtol)


def _as_float64(x: Any, where: str, what: str = "x") -> np.ndarray:
    try:
        array = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {what} must be a numeric array; got {x!r}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: {what} must be finite; got non-finite entries in {x!r}")
    return array


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
    eps, atol, rtol = _check_settings(where, eps, atol, rtol)
    x64 = _as_float64(x, where)
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
    return GradcheckResult(label, (_compare("x", analytic, numeric, atol, rtol),), eps, atol, rtol)


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

    checks = [_compare("x", analytic_x, _central_differences(phi, x64, eps), atol, rtol)]
    if check_params:
        for param_name, array in base.params.items():
            numeric = _central_differences(phi, array, eps)
            checks.append(
                _compare(param_name, analytic_params.get(param_name), numeric, atol, rtol)
            )
    return GradcheckResult(name or type(f).__name__, tuple(checks), eps, atol, rtol)


def check_adjoint(
    jvp: Callable[[np.ndarray], np.ndarray],
    vjp: Callable[[np.ndarray], np.ndarray],
    x_shape: tuple[int, ...],
    *,
    rng: Any = None,
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
    _, atol, rtol = _check_settings(where, 1.0, atol, rtol)
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
        jv = np.asarray(jvp(v.copy()), dtype=np.float64)
        u = generator.standard_normal(jv.shape)
        uj = np.asarray(vjp(u.copy()), dtype=np.float64)
        label = f"trial {trial}"
        if uj.shape != shape:
            checks.append(_failed(label, shape, f"vjp gave shape {uj.shape}, expected {shape}"))
            continue
        lhs, rhs = float(np.sum(u * jv)), float(np.sum(uj * v))
        scale = max(float(np.sum(np.abs(u * jv))), float(np.sum(np.abs(uj * v))))
        diff = abs(lhs - rhs)
        excess = diff - (atol + rtol * scale)
        rel = diff / max(abs(lhs), abs(rhs)) if max(abs(lhs), abs(rhs)) > atol else 0.0
        checks.append(Check(label, (), bool(excess <= 0), diff, rel, (), rhs, lhs, excess=excess))
    return GradcheckResult(name, tuple(checks), 0.0, atol, rtol)


def check_softmax_jacobian(
    x: Any,
    axis: int = -1,
    *,
    rng: Any = None,
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
    _, atol, rtol = _check_settings(where, 1.0, atol, rtol)
    x64 = _as_float64(x, where)
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
        _compare("symmetric", jac, np.swapaxes(jac, -1, -2), atol, rtol),
        _compare("rows sum to 0", jac.sum(axis=-1), np.zeros(jac.shape[:-1]), atol, rtol),
        _compare("diag(s) - s s^T", jac, formula, atol, rtol),
        _compare("vjp == g @ J", vjp, np.einsum("...i,...ij->...j", g_last, jac), atol, rtol),
        _compare("jvp == J @ v", jvp, np.einsum("...ij,...j->...i", jac, v_last), atol, rtol),
    )
    return GradcheckResult("softmax_jacobian", checks, 0.0, atol, rtol)

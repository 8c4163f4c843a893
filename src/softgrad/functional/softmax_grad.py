"""Derivatives of softmax and log-softmax for backprop: VJPs and JVPs.

They take the forward *output* (``s = softmax(x)`` or ``logp = log_softmax(x)``), where the
derivative is cheapest, and cost O(C) per slice: no Jacobian is ever built (the explicit
Jacobians, for looking at J, are in ``jacobians.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import (
    as_float_array,
    check_out,
    check_same_shape,
    normalize_axis,
    result_dtypes,
    to_output,
)
from ._kernels import slice_sum
from ._rows import rows_log_softmax_product, rows_softmax_product

__all__ = [
    "log_softmax_jvp",
    "log_softmax_vjp",
    "softmax_jvp",
    "softmax_vjp",
]


def _pair(a: Any, b: Any, axis: Any, out: Any, name: str, names: tuple[str, str]):
    ac, a_dtype = as_float_array(a, name, names[0])
    bc, b_dtype = as_float_array(b, name, names[1])
    check_same_shape(ac, bc, name, names)
    ax = normalize_axis(axis, ac.ndim, name)
    compute, out_dtype = result_dtypes(a_dtype, b_dtype)
    if ac.dtype != compute:
        ac = ac.astype(compute)
    if bc.dtype != compute:
        bc = bc.astype(compute)
    if out is not None:
        check_out(out, ac.shape, out_dtype, name)
    direct = out is not None and out.dtype == compute
    # the kernels read both inputs after writing the buffer: never write over an input
    if direct and (np.may_share_memory(out, ac) or np.may_share_memory(out, bc)):
        direct = False
    buf = out if direct else np.empty_like(ac)
    return ac, bc, ax, out_dtype, buf


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_lean_call(s: Any, a: Any, axis: Any, out: Any) -> bool:
    # the backward pass's call: two float32/64 arrays of one dtype and shape, last axis, no out
    return (
        out is None
        and type(s) is np.ndarray
        and type(a) is np.ndarray
        and type(axis) is int
        and s.dtype in _FAST_DTYPES
        and a.dtype == s.dtype
        and s.shape == a.shape
        and s.ndim > 0
        and (axis == -1 or axis == s.ndim - 1)
    )


def _lean_product(s: Any, a: Any, axis: Any, out: Any) -> np.ndarray | None:
    """A lean call straight to the blocked kernel; None sends anything else (or a layout the
    kernel cannot take) through the general path, which validates."""
    if not _is_lean_call(s, a, axis, out):
        return None
    buf = np.empty(s.shape, s.dtype)
    return buf if rows_softmax_product(s, a, s.ndim - 1, buf) else None


def _lean_log_product(logp: Any, a: Any, axis: Any, out: Any, jvp: bool) -> np.ndarray | None:
    """As ``_lean_product``, for the log-softmax VJP/JVP."""
    if not _is_lean_call(logp, a, axis, out):
        return None
    buf = np.empty(logp.shape, logp.dtype)
    ax = logp.ndim - 1
    if rows_log_softmax_product(logp, a, ax, buf, jvp, _log_block_fallback(jvp)):
        return buf
    return None


def _log_block_fallback(jvp: bool):
    # a block holding -inf/NaN log-probabilities: the general kernel with the masked rule
    return lambda lb, ab, bb: _log_softmax_product(lb, ab, 1, bb, jvp, blocked=False)


def _softmax_product(s: np.ndarray, g: np.ndarray, ax: int, buf: np.ndarray) -> np.ndarray:
    # s * (g - sum(g * s)): blocked on the last axis, else three in-place passes and a reduction
    if rows_softmax_product(s, g, ax, buf):
        return buf
    np.multiply(g, s, out=buf)
    dot = slice_sum(buf, ax)
    np.subtract(g, dot, out=buf)
    np.multiply(buf, s, out=buf)
    return buf


def softmax_vjp(s: Any, g: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Vector-Jacobian product of softmax: g @ J = s * (g - sum(g * s, axis)).

    Parameters
    ----------
    s : array_like of shape S
        The softmax output ``softmax(x, axis)``.
    g : array_like of shape S
        The cotangent dL/ds.
    axis : int, default -1
        The softmax dimension.
    out : ndarray of shape S, optional
        Buffer for the result (output dtype). If it overlaps an input, a temporary is used.

    Returns
    -------
    grad_x : ndarray of shape S
        dL/dx. O(C) per slice; equals ``g @ softmax_jacobian(x)`` along ``axis``.

    Notes
    -----
    Entries with s = 0 (masked by ``where``) get gradient exactly 0. dtype: the common dtype of
    s and g under the package rule (float16 computed in float32).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import softmax_vjp
    >>> softmax_vjp(np.array([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.1875, -0.1875])
    """
    fast = _lean_product(s, g, axis, out)
    if fast is not None:
        return fast
    sc, gc, ax, out_dtype, buf = _pair(s, g, axis, out, "softmax_vjp", ("s", "g"))
    return to_output(_softmax_product(sc, gc, ax, buf), out_dtype, out)


def softmax_jvp(s: Any, v: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Jacobian-vector product of softmax: J @ v = s * (v - sum(s * v, axis)).

    Parameters
    ----------
    s : array_like of shape S
        The softmax output ``softmax(x, axis)``.
    v : array_like of shape S
        The tangent (a perturbation of x).
    axis : int, default -1
        The softmax dimension.
    out : ndarray of shape S, optional
        Buffer for the result (output dtype).

    Returns
    -------
    ds : ndarray of shape S
        The directional derivative of s. J is symmetric, so this is the same formula as the VJP.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import softmax_jvp
    >>> softmax_jvp(np.array([0.25, 0.75]), np.array([1.0, 1.0]))
    array([0., 0.])
    """
    fast = _lean_product(s, v, axis, out)
    if fast is not None:
        return fast
    sc, vc, ax, out_dtype, buf = _pair(s, v, axis, out, "softmax_jvp", ("s", "v"))
    return to_output(_softmax_product(sc, vc, ax, buf), out_dtype, out)


def _log_softmax_product(
    logp: np.ndarray,
    a: np.ndarray,
    ax: int,
    buf: np.ndarray,
    weighted_sum: bool,
    blocked: bool = True,
) -> np.ndarray:
    if blocked and rows_log_softmax_product(
        logp, a, ax, buf, weighted_sum, _log_block_fallback(weighted_sum)
    ):
        return buf
    # -inf entries of logp (masked, or -inf input) are locally constant: zero derivative, and
    # their cotangent does not enter the sum
    neg = np.isneginf(logp)
    has_neg = bool(neg.any())
    np.exp(logp, out=buf)
    keep = ~neg if has_neg else True
    if weighted_sum:  # JVP: v - sum(s * v)
        total = slice_sum(np.multiply(buf, a, where=keep, out=np.zeros_like(buf)), ax)
        np.subtract(a, total, out=buf)
    else:  # VJP: g - s * sum(g)
        total = slice_sum(a, ax, where=keep)
        np.multiply(buf, total, out=buf)
        np.subtract(a, buf, out=buf)
    if has_neg:
        np.copyto(buf, 0.0, where=neg)
    return buf


def log_softmax_vjp(logp: Any, g: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Vector-Jacobian product of log-softmax: g @ J = g - exp(logp) * sum(g, axis).

    Parameters
    ----------
    logp : array_like of shape S
        The log-softmax output ``log_softmax(x, axis)``.
    g : array_like of shape S
        The cotangent dL/dlogp.
    axis : int, default -1
        The softmax dimension.
    out : ndarray of shape S, optional
        Buffer for the result (output dtype).

    Returns
    -------
    grad_x : ndarray of shape S
        dL/dx; equals ``g @ log_softmax_jacobian(x)`` along ``axis``.

    Notes
    -----
    An entry with logp = -inf (masked by ``where``, or a -inf input) does not change under any
    finite perturbation: it gets gradient exactly 0 and its g is left out of the sum.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import log_softmax_vjp
    >>> log_softmax_vjp(np.log([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.75, -0.75])
    """
    fast = _lean_log_product(logp, g, axis, out, jvp=False)
    if fast is not None:
        return fast
    lc, gc, ax, out_dtype, buf = _pair(logp, g, axis, out, "log_softmax_vjp", ("logp", "g"))
    return to_output(_log_softmax_product(lc, gc, ax, buf, False), out_dtype, out)


def log_softmax_jvp(logp: Any, v: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Jacobian-vector product of log-softmax: J @ v = v - sum(exp(logp) * v, axis).

    Parameters
    ----------
    logp : array_like of shape S
        The log-softmax output ``log_softmax(x, axis)``.
    v : array_like of shape S
        The tangent.
    axis : int, default -1
        The softmax dimension.
    out : ndarray of shape S, optional
        Buffer for the result (output dtype).

    Returns
    -------
    dlogp : ndarray of shape S
        The directional derivative of logp (0 at entries where logp = -inf).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import log_softmax_jvp
    >>> log_softmax_jvp(np.log([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.75, -0.25])
    """
    fast = _lean_log_product(logp, v, axis, out, jvp=True)
    if fast is not None:
        return fast
    lc, vc, ax, out_dtype, buf = _pair(logp, v, axis, out, "log_softmax_jvp", ("logp", "v"))
    return to_output(_log_softmax_product(lc, vc, ax, buf, True), out_dtype, out)

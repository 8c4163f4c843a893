"""Derivatives of softmax and log-softmax for backprop: VJPs and JVPs.

They take the forward *output* (``s = softmax(x)`` or ``logp = log_softmax(x)``), where the
derivative is cheapest, and cost O(C) per slice: no Jacobian is ever built (the explicit
Jacobians, for looking at J, are in ``jacobians.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from softgrad.checks import (
    as_float_array,
    check_out,
    check_same_shape,
    normalize_axis,
    quiet_underflow,
    result_dtypes,
    to_output,
)
from softgrad.kernels import get_ops

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
    ax = normalize_axis(axis, ac.ndim, name, names[0])
    compute, out_dtype = result_dtypes(a_dtype, b_dtype)
    if ac.dtype != compute:
        ac = ac.astype(compute)
    if bc.dtype != compute:
        bc = bc.astype(compute)
    if out is not None:
        check_out(out, ac.shape, out_dtype, name)
    direct = out is not None and out.dtype == compute
    # the kernels may write over the cotangent, never over s / logp
    if direct and np.may_share_memory(out, ac):
        direct = False
    buf = out if direct else np.empty_like(ac)
    return ac, bc, ax, out_dtype, buf


@quiet_underflow
def softmax_vjp(
    s: ArrayLike, g: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
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
        Buffer for the result (output dtype); may be ``g``. If it overlaps s, a temporary is
        used.

    Returns
    -------
    grad_x : ndarray of shape S
        dL/dx. O(C) per slice; equals ``g @ softmax_jacobian(x)`` along ``axis``.

    Notes
    -----
    Entries with s = 0 (masked by ``where``) get gradient exactly 0 for a finite g, unless
    ``g_i - sum(g * s)`` overflows (g near the dtype's largest value): then 0 * inf is NaN
    there, as in PyTorch. A NaN or inf in a slice's g makes every entry of the slice NaN or
    infinite, at a masked entry too (as in PyTorch; the sum(g * s) takes 0 * inf = NaN): the
    cotangent of a masked output must be finite, 0 say.
    dtype: the common dtype of s and g under the package rule (float16 computed in float32).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import softmax_vjp
    >>> softmax_vjp(np.array([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.1875, -0.1875])
    """
    sc, gc, ax, out_dtype, buf = _pair(s, g, axis, out, "softmax_vjp", ("s", "g"))
    return to_output(get_ops().softmax_vjp(sc, gc, ax, buf), out_dtype, out)


@quiet_underflow
def softmax_jvp(
    s: ArrayLike, v: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
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

    Notes
    -----
    The VJP's formula, so its edge cases (:func:`softmax_vjp`): an entry with s = 0 gets 0 for a
    finite v, but an inf or NaN in v anywhere in a slice makes every entry of that slice NaN or
    infinite (``[[0.5, 0.5]]`` and v ``[[inf, 0]]`` give ``[[nan, -inf]]``, as in PyTorch).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import softmax_jvp
    >>> softmax_jvp(np.array([0.25, 0.75]), np.array([1.0, 1.0]))
    array([0., 0.])
    """
    sc, vc, ax, out_dtype, buf = _pair(s, v, axis, out, "softmax_jvp", ("s", "v"))
    # J is symmetric: the JVP is the VJP's formula
    return to_output(get_ops().softmax_vjp(sc, vc, ax, buf), out_dtype, out)


@quiet_underflow
def log_softmax_vjp(
    logp: ArrayLike, g: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
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
        dL/dx; equals ``g @ log_softmax_jacobian(x)`` along ``axis`` where logp is finite
        (Notes).

    Notes
    -----
    An entry with logp = -inf (masked by ``where``, or a -inf input) does not change under any
    finite perturbation: it gets gradient exactly 0 and its g is left out of the sum.
    :func:`~softgrad.functional.log_softmax_jacobian` gives the limit as x_i -> -inf there
    instead (PyTorch's Jacobian), so a slice holding -inf differs from ``g @ J`` at those
    entries and by their g.

    A finite g whose ``sum(g)`` overflows (entries near the dtype's largest value) gives -inf
    or inf (or NaN) where the exact gradient is finite, as in PyTorch: ``g = [3e38, 3e38]`` in
    float32 over two equal logits gives ``[-inf, -inf]`` for the exact ``[0, 0]``.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import log_softmax_vjp
    >>> log_softmax_vjp(np.log([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.75, -0.75])
    """
    lc, gc, ax, out_dtype, buf = _pair(logp, g, axis, out, "log_softmax_vjp", ("logp", "g"))
    return to_output(get_ops().log_softmax_vjp(lc, gc, ax, buf), out_dtype, out)


@quiet_underflow
def log_softmax_jvp(
    logp: ArrayLike, v: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
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

    Notes
    -----
    An entry with logp = -inf gets exactly 0 and its v is left out of the sum, even an inf or NaN
    v. An inf v at a finite entry gives NaN (inf - inf) there; a NaN in logp makes the slice NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import log_softmax_jvp
    >>> log_softmax_jvp(np.log([0.25, 0.75]), np.array([1.0, 0.0]))
    array([ 0.75, -0.25])
    """
    lc, vc, ax, out_dtype, buf = _pair(logp, v, axis, out, "log_softmax_jvp", ("logp", "v"))
    return to_output(get_ops().log_softmax_jvp(lc, vc, ax, buf), out_dtype, out)

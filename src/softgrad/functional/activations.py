"""Elementwise activations and their output-based VJPs: validated calls of the kernels.

Each derivative is written in terms of the forward *output* (y, s, t), which the layer caches:
relu' = (y > 0), sigmoid' = s (1 - s), tanh' = 1 - t^2. The formulas live once, in
:mod:`softgrad.kernels.activations`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from softgrad.checks import (
    as_float_array,
    check_out,
    check_same_shape,
    quiet_underflow,
    result_dtypes,
    to_output,
)
from softgrad.kernels import get_ops

__all__ = ["relu", "relu_vjp", "sigmoid", "sigmoid_vjp", "tanh", "tanh_vjp"]


def _unary(x: Any, out: Any, name: str) -> tuple[np.ndarray, np.dtype, np.ndarray]:
    xc, out_dtype = as_float_array(x, name)
    if out is not None:
        check_out(out, xc.shape, out_dtype, name)
        if out.dtype == xc.dtype:
            return xc, out_dtype, out
    return xc, out_dtype, np.empty_like(xc)


def _binary(a: Any, g: Any, out: Any, name: str, a_name: str):
    ac, a_dtype = as_float_array(a, name, a_name)
    gc, g_dtype = as_float_array(g, name, "g")
    check_same_shape(ac, gc, name, (a_name, "g"))
    compute, out_dtype = result_dtypes(a_dtype, g_dtype)
    ac = ac.astype(compute, copy=False)
    gc = gc.astype(compute, copy=False)
    if out is not None:
        check_out(out, ac.shape, out_dtype, name)
        if out.dtype == compute:
            return ac, gc, out_dtype, out
    return ac, gc, out_dtype, np.empty_like(ac)


@quiet_underflow
def relu(x: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """Rectified linear unit: y = max(x, 0).

    Parameters
    ----------
    x : array_like of shape (...)
        Input.
    out : ndarray of shape x.shape, optional
        Buffer for the result (output dtype); may be ``x`` (in-place).

    Returns
    -------
    y : ndarray of shape x.shape
        dtype rule as :func:`softgrad.functional.softmax`; NaN stays NaN.

    Notes
    -----
    relu(-inf) = 0, relu(+inf) = +inf, relu(NaN) = NaN; -0.0 gives +0.0.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import relu
    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    xc, out_dtype, buf = _unary(x, out, "relu")
    get_ops().relu(xc, out=buf)
    return to_output(buf, out_dtype, out)


@quiet_underflow
def relu_vjp(y: ArrayLike, g: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """VJP of ReLU from its output: grad_x = g * (y > 0).

    Parameters
    ----------
    y : array_like of shape (...)
        The ReLU output.
    g : array_like of shape y.shape
        The cotangent dL/dy.
    out : ndarray of shape y.shape, optional
        Buffer for the result (output dtype); may be ``g``.

    Returns
    -------
    grad_x : ndarray of shape y.shape
        The subgradient at 0 is taken as 0 (as torch does).

    Notes
    -----
    Computed as a product, so an inf or NaN in g where y <= 0 gives NaN there (0 * inf), where
    torch gives 0; an inf g where y > 0 passes through. A NaN y counts as inactive (gradient 0).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import relu_vjp
    >>> relu_vjp(np.array([0.0, 2.0]), np.array([5.0, 5.0]))
    array([0., 5.])
    """
    yc, gc, out_dtype, buf = _binary(y, g, out, "relu_vjp", "y")
    get_ops().relu_vjp(yc, gc, out=buf)
    return to_output(buf, out_dtype, out)


@quiet_underflow
def sigmoid(x: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid: s = 1 / (1 + exp(-x)), computed without overflow for any x.

    Parameters
    ----------
    x : array_like of shape (...)
        Input.
    out : ndarray of shape x.shape, optional
        Buffer for the result (output dtype); may be ``x``.

    Returns
    -------
    s : ndarray of shape x.shape
        In [0, 1].

    Notes
    -----
    With e = exp(-|x|) <= 1 (never overflows): s = 1 / (1 + e) for x >= 0 and e / (1 + e) for
    x < 0, so large negative x keep their tiny values (sigmoid(-100) = 3.7e-44, not 0).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    xc, out_dtype, buf = _unary(x, out, "sigmoid")
    get_ops().sigmoid(xc, out=buf)
    return to_output(buf, out_dtype, out)


@quiet_underflow
def sigmoid_vjp(s: ArrayLike, g: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """VJP of the sigmoid from its output: grad_x = g * s * (1 - s).

    Parameters
    ----------
    s : array_like of shape (...)
        The sigmoid output.
    g : array_like of shape s.shape
        The cotangent dL/ds.
    out : ndarray of shape s.shape, optional
        Buffer for the result (output dtype).

    Returns
    -------
    grad_x : ndarray of shape s.shape

    Notes
    -----
    At the saturated outputs s = 0 and s = 1 the gradient is 0 for a finite g, NaN for an
    infinite g (0 * inf); a NaN in s or g gives NaN. s outside [0, 1] is not refused.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import sigmoid_vjp
    >>> sigmoid_vjp(np.array([0.5, 0.25]), np.array([1.0, 2.0]))
    array([0.25 , 0.375])
    """
    sc, gc, out_dtype, buf = _binary(s, g, out, "sigmoid_vjp", "s")
    get_ops().sigmoid_vjp(sc, gc, out=buf)
    return to_output(buf, out_dtype, out)


@quiet_underflow
def tanh(x: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """Hyperbolic tangent: t = tanh(x).

    Parameters
    ----------
    x : array_like of shape (...)
        Input.
    out : ndarray of shape x.shape, optional
        Buffer for the result (output dtype); may be ``x``.

    Returns
    -------
    t : ndarray of shape x.shape
        In [-1, 1].

    Notes
    -----
    tanh(-inf) = -1, tanh(+inf) = 1, tanh(NaN) = NaN; -0.0 stays -0.0.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import tanh
    >>> tanh(np.array([-1000.0, 0.0, 1000.0]))
    array([-1.,  0.,  1.])
    """
    xc, out_dtype, buf = _unary(x, out, "tanh")
    get_ops().tanh(xc, out=buf)
    return to_output(buf, out_dtype, out)


@quiet_underflow
def tanh_vjp(t: ArrayLike, g: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """VJP of tanh from its output: grad_x = g * (1 - t * t).

    Parameters
    ----------
    t : array_like of shape (...)
        The tanh output.
    g : array_like of shape t.shape
        The cotangent dL/dt.
    out : ndarray of shape t.shape, optional
        Buffer for the result (output dtype).

    Returns
    -------
    grad_x : ndarray of shape t.shape

    Notes
    -----
    At the saturated outputs t = -1 and t = 1 the gradient is 0 for a finite g, NaN for an
    infinite g (0 * inf); a NaN in t or g gives NaN. t outside [-1, 1] is not refused.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import tanh_vjp
    >>> tanh_vjp(np.array([0.0, 0.5]), np.array([1.0, 1.0]))
    array([1.  , 0.75])
    """
    tc, gc, out_dtype, buf = _binary(t, g, out, "tanh_vjp", "t")
    get_ops().tanh_vjp(tc, gc, out=buf)
    return to_output(buf, out_dtype, out)

"""Explicit Jacobians of softmax and log-softmax, one (C, C) block per slice.

For looking at J (and for tests), not for backprop: the VJPs in ``softmax_grad.py`` cost O(C)
per slice, these O(C^2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from softgrad.checks import as_float_array, normalize_axis, quiet_underflow, to_output
from softgrad.kernels import get_ops

__all__ = ["log_softmax_jacobian", "softmax_jacobian"]


def _jacobian_probs(x: Any, axis: Any, name: str) -> tuple[np.ndarray, np.dtype]:
    xc, out_dtype = as_float_array(x, name)
    ax = normalize_axis(axis, xc.ndim, name)
    s = get_ops().softmax(xc, ax)
    return np.moveaxis(s, ax, -1), out_dtype


@quiet_underflow
def softmax_jacobian(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """The Jacobian of softmax along ``axis``: J[..., i, j] = d s_i / d x_j = s_i (delta_ij - s_j).

    Parameters
    ----------
    x : array_like of shape S
        Scores; ``C = S[axis]``.
    axis : int, default -1
        The softmax dimension.

    Returns
    -------
    J : ndarray of shape S without axis + (C, C)
        One C x C Jacobian per slice: J = diag(s) - s s^T. It is symmetric and its rows and
        columns sum to 0 (J @ 1 = 0: adding a constant to x leaves s unchanged).

    Notes
    -----
    O(C^2) memory per slice: for gradients use :func:`softmax_vjp` (O(C)). dtype as softmax.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import softmax_jacobian
    >>> softmax_jacobian(np.log([1.0, 3.0]))
    array([[ 0.1875, -0.1875],
           [-0.1875,  0.1875]])
    """
    s, out_dtype = _jacobian_probs(x, axis, "softmax_jacobian")
    n = s.shape[-1]
    jac = np.multiply(s[..., :, None], s[..., None, :])
    np.negative(jac, out=jac)
    # the diagonal of each (C, C) block, as a strided view of the flattened block
    diag = jac.reshape(*jac.shape[:-2], n * n)[..., :: n + 1]
    diag += s
    return to_output(jac, out_dtype)


@quiet_underflow
def log_softmax_jacobian(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """The Jacobian of log-softmax along ``axis``: J[..., i, j] = delta_ij - s_j.

    Parameters
    ----------
    x : array_like of shape S
        Scores; ``C = S[axis]``.
    axis : int, default -1
        The softmax dimension.

    Returns
    -------
    J : ndarray of shape S without axis + (C, C)
        J = I - 1 s^T: every row is the same except for the 1 on the diagonal; J @ 1 = 0.

    Notes
    -----
    At an entry with x = -inf (s = 0) this is the limit as x_i -> -inf, PyTorch's Jacobian.
    :func:`~softgrad.functional.log_softmax_vjp` and ``log_softmax_jvp`` treat such an entry
    as masked instead (its log-probability, -inf, does not move): gradient 0 and its cotangent
    left out, so they equal ``g @ J`` and ``J @ v`` only where the slice is finite.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import log_softmax_jacobian
    >>> log_softmax_jacobian(np.log([1.0, 3.0]))
    array([[ 0.75, -0.75],
           [-0.25,  0.25]])
    """
    s, out_dtype = _jacobian_probs(x, axis, "log_softmax_jacobian")
    n = s.shape[-1]
    jac = np.negative(np.broadcast_to(s[..., None, :], (*s.shape, n)))
    diag = jac.reshape(*jac.shape[:-2], n * n)[..., :: n + 1]
    diag += 1.0
    return to_output(jac, out_dtype)

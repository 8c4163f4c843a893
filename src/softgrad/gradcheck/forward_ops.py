"""Which textbook function a checked forward computes, recognised from its input and output.

The diagnosis can only say "you kept the diagonal of the softmax Jacobian" when it knows the
forward is a softmax. :func:`recognise` compares the output at the checked point with softgrad's
own softmax (over each axis), sigmoid, tanh and mean cross-entropy; a match gives an :class:`Op`
holding what the right backward and its classic wrong versions are written with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad import functional as F

# a user's float64 forward agrees with softgrad's to rounding; a different function is far away
_SAME_RTOL = 1e-7
_SAME_ATOL = 1e-10


@dataclass(frozen=True)
class Op:
    """A recognised forward function and the quantities its derivative is written with.

    Attributes
    ----------
    name : {"softmax", "sigmoid", "tanh", "cross_entropy"}
    s : ndarray of x's shape
        The forward output for the elementwise functions and the softmax; ``softmax(x)`` (over
        the last axis) for the cross-entropy, whose own output is the scalar loss.
    axis : int
        The softmax's axis (normalised to be >= 0; the last axis for the cross-entropy).
    right : ndarray of x's shape
        The right vector-Jacobian product for the checked cotangent g: what backward should
        return.
    sum_grad : ndarray of x's shape or None
        Cross-entropy only: g * (softmax(x) - onehot(target)), the gradient of the *summed* loss.
    n_rows : int
        Cross-entropy only: the number of predictions the mean divides by (N).
    """

    name: str
    s: np.ndarray
    axis: int
    right: np.ndarray
    sum_grad: np.ndarray | None = None
    n_rows: int = 1


def same(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` have one shape and agree to float64 rounding of the larger."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), float(np.max(np.abs(a), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= _SAME_ATOL + _SAME_RTOL * scale))


def recognise(x: np.ndarray, y: Any, g: Any, target: Any) -> Op | None:
    """The :class:`Op` whose output at x is y, or None.

    Parameters
    ----------
    x : ndarray, float64
        The checked point.
    y : ndarray or float
        The forward output at x.
    g : ndarray or float
        The cotangent the check used (1.0 for a scalar output).
    target : ndarray or None
        The loss target (class indices of shape x.shape[:-1], or probabilities of x's shape).

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> recognise(x, F.softmax(x), np.ones((1, 3)), None).name
    'softmax'
    >>> recognise(x, x**2, np.ones((1, 3)), None) is None
    True
    """
    y = np.asarray(y, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if target is not None:
        return _cross_entropy(x, y, g, np.asarray(target)) if x.ndim >= 1 else None
    if y.shape != x.shape or x.size == 0:
        return None
    if same(y, F.sigmoid(x)):
        return Op("sigmoid", y, x.ndim - 1, F.sigmoid_vjp(y, g))
    if same(y, F.tanh(x)):
        return Op("tanh", y, x.ndim - 1, F.tanh_vjp(y, g))
    for axis in sorted(range(x.ndim), reverse=True):  # the last axis first: the usual one
        if x.shape[axis] > 1 and same(y, F.softmax(x, axis=axis)):
            return Op("softmax", y, axis, F.softmax_vjp(y, g, axis=axis))
    return None


def _cross_entropy(x: np.ndarray, y: np.ndarray, g: np.ndarray, target: np.ndarray) -> Op | None:
    """The mean softmax cross-entropy over the last axis, if that is what y is."""
    if y.ndim != 0 or x.ndim == 0 or x.shape[-1] < 2:
        return None
    try:
        mean_loss = F.cross_entropy(x, target)
        sum_grad = g * F.cross_entropy_grad(x, target, reduction="sum")
    except (TypeError, ValueError):  # not class indices or probabilities for these logits
        return None
    if not same(y, mean_loss):
        return None
    n_rows = x.size // x.shape[-1]
    return Op("cross_entropy", F.softmax(x), x.ndim - 1, sum_grad / n_rows, sum_grad, n_rows)

"""Which textbook function a checked forward computes, recognised from its input and output.

The diagnosis can only say "you kept the diagonal of the softmax Jacobian" when it knows the
forward is a softmax. :func:`recognise` compares the output at the checked point with softgrad's
own softmax and log-softmax (over each axis), sigmoid, tanh and mean cross-entropy; a match gives
an :class:`Op` holding what the right backward and its classic wrong versions are written with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from softgrad import functional as F

# gradients that agree: a user's float64 backward and a prediction from the same quantities
# agree to rounding
SAME_RTOL = 1e-7
SAME_ATOL = 1e-10
# forwards that are the same function: measured (20 seeds, 3 to 5,000 classes), a forward in
# float16 is off softgrad's by up to 4e-4 relative, and the textbook log(y + 1e-7) inside a
# cross-entropy by 2e-6 at 10 classes and 4e-4 at 5,000; a different function (another axis,
# a sum for a mean, tanh for sigmoid) is off by O(1). 1e-2 leaves a margin of 25 on both sides.
RECOGNISE_RTOL = 1e-2


@dataclass(frozen=True)
class Op:
    """A recognised forward function and the quantities its derivative is written with.

    Attributes
    ----------
    name : {"softmax", "log_softmax", "sigmoid", "tanh", "cross_entropy"}
    s : ndarray of x's shape
        The forward output for the elementwise functions and the softmax; the probabilities
        ``exp(y)`` for the log-softmax (its output y is ``log(s)``); ``softmax(x)`` (over the
        last axis) for the cross-entropy, whose own output is the scalar loss.
    axis : int
        The softmax's axis (normalised to be >= 0; the last axis for the cross-entropy).
    right : ndarray of x's shape
        The right vector-Jacobian product for the checked cotangent g: what backward should
        return.
    sum_grad : ndarray of x's shape or None
        Cross-entropy only: g * (softmax(x) - onehot(target)), the gradient of the *summed* loss.
    n_rows : int
        Cross-entropy only: the number of predictions the mean divides by (N).
    target : ndarray of x.shape[:-1] or None
        Cross-entropy only: the class indices, where the target was given as indices.
    """

    name: str
    s: np.ndarray
    axis: int
    right: np.ndarray
    sum_grad: np.ndarray | None = None
    n_rows: int = 1
    target: np.ndarray | None = None


def same(a: Any, b: Any, atol: float = SAME_ATOL, rtol: float = SAME_RTOL) -> bool:
    """True when ``a`` and ``b`` have one shape, are finite, and agree to ``atol + rtol * scale``
    entry by entry, scale the largest magnitude of either (default: float64 rounding).

    NaN and inf agree with nothing: they are not numbers a gradient can be matched against.

    Examples
    --------
    >>> same(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12])), same(np.inf, 1.0)
    (True, False)
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), float(np.max(np.abs(a), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= atol + rtol * scale))


def _is(y: np.ndarray, expected: np.ndarray) -> bool:
    """True when the output y is the function whose output at x is ``expected``."""
    return same(y, expected, rtol=RECOGNISE_RTOL)


def recognise(x: np.ndarray, y: Any, g: Any, target: Any) -> Op | None:
    """The :class:`Op` whose output at x is y, or None.

    y is recognised when it agrees with the function's output to :data:`RECOGNISE_RTOL` of its
    largest magnitude: loose enough for a float32 or float16 forward and for an epsilon inside a
    log, tight enough to tell the functions apart.

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
    if _is(y, F.sigmoid(x)):
        return Op("sigmoid", y, x.ndim - 1, F.sigmoid_vjp(y, g))
    if _is(y, F.tanh(x)):
        return Op("tanh", y, x.ndim - 1, F.tanh_vjp(y, g))
    for axis in sorted(range(x.ndim), reverse=True):  # the last axis first: the usual one
        if x.shape[axis] > 1 and _is(y, F.softmax(x, axis=axis)):
            return Op("softmax", y, axis, F.softmax_vjp(y, g, axis=axis))
    for axis in sorted(range(x.ndim), reverse=True):
        if x.shape[axis] > 1 and _is(y, F.log_softmax(x, axis=axis)):
            # s: the probabilities exp(y), which its derivative is written with
            return Op("log_softmax", np.exp(y), axis, F.log_softmax_vjp(y, g, axis=axis))
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
    if not _is(y, np.asarray(mean_loss)):
        return None
    n_rows = x.size // x.shape[-1]
    indices = target if target.dtype.kind in "iu" and target.shape == x.shape[:-1] else None
    s = F.softmax(x)
    return Op("cross_entropy", s, x.ndim - 1, sum_grad / n_rows, sum_grad, n_rows, indices)

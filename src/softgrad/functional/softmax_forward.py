"""Softmax, log-softmax and logsumexp: forward values.

Shape legend: N samples, C classes, ``...`` any leading dimensions; ``axis`` picks the dimension
the softmax normalises over (C, the last one by default).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from softgrad.checks import (
    as_float_array,
    check_out,
    check_where,
    normalize_axis,
    quiet_underflow,
    to_output,
)
from softgrad.kernels import get_ops

__all__ = ["log_softmax", "logsumexp", "softmax"]


def _prepare(x: Any, axis: Any, where: Any, out: Any, name: str):
    xc, out_dtype = as_float_array(x, name)
    ax = normalize_axis(axis, xc.ndim, name)
    mask = None if where is None else check_where(where, xc.shape, name)
    if out is not None:
        check_out(out, xc.shape, out_dtype, name)
    return xc, out_dtype, ax, mask


def _buffer(xc: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    # write straight into the caller's buffer when it has the compute dtype (float32/64)
    if out is not None and out.dtype == xc.dtype:
        return out
    return np.empty_like(xc)


@quiet_underflow
def softmax(
    x: ArrayLike, axis: int = -1, *, where: ArrayLike | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Softmax along ``axis``: s_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j.

    Parameters
    ----------
    x : array_like of shape (..., C, ...)
        Scores (logits). ``C = x.shape[axis]``.
    axis : int, default -1
        The dimension to normalise over.
    where : array_like of bool, broadcastable to x.shape, optional
        Entries that take part. Entries where False get probability exactly 0 and do not enter
        the max shift.
    out : ndarray of shape x.shape, optional
        Buffer for the result, with the output dtype (see Notes). May be ``x`` itself.

    Returns
    -------
    probs : ndarray of shape x.shape
        Non-negative, summing to 1 along ``axis`` (0 for a slice with no selected entry).

    Notes
    -----
    - dtype: float16/32/64 in, same dtype out; float16 is computed in float32; int and bool
      input give float64.
    - Shifting by the slice max means exp never overflows: finite input (even +-3e38, or huge and
      tiny values in one slice) never gives NaN or inf.
    - +inf entries: the limit, i.e. the +inf entries of a slice share its mass equally and the
      other entries get 0.
    - A NaN makes its own slice NaN and no other (a NaN where ``where`` is False is ignored,
      like any masked value). A slice whose selected entries are all -inf has no limit and
      gives NaN; a slice with no selected entry (``where`` all False) gives all zeros, never
      NaN.
    - Gradients: :func:`softmax_vjp` of the result gives masked entries exactly 0.
    - Unlike torch.softmax, which returns NaN for a slice holding +inf, the +inf limit above is
      returned.
    - Works on any axis and on empty arrays.
    - Speed: when every slice's sum of exp(x) lands in [1, 2**64] the max shift is skipped (two
      fewer passes, and no accuracy lost: any entry that underflows there is below the
      smallest normal number in the exact result too, and the sum is small enough for 1 / S
      to keep its precision); otherwise the slices that fail take the shifted path, apart
      from the others in a large call, or with the whole call (see
      :mod:`softgrad.kernels.softmax`). Along any axis but a C-contiguous last one, the
      slices are first copied into rows.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import softmax
    >>> softmax(np.array([1.0, 2.0, 3.0]))
    array([0.09003057, 0.24472847, 0.66524096])
    >>> softmax(np.array([[0.0, 0.0, 5.0]]), where=np.array([True, True, False]))
    array([[0.5, 0.5, 0. ]])
    """
    xc, out_dtype, ax, mask = _prepare(x, axis, where, out, "softmax")
    buf = get_ops().softmax(xc, ax, mask, _buffer(xc, out))
    return to_output(buf, out_dtype, out)


@quiet_underflow
def log_softmax(
    x: ArrayLike, axis: int = -1, *, where: ArrayLike | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Log-softmax along ``axis``: log s_i = (x_i - m) - log(sum_j exp(x_j - m)), m = max_j x_j.

    Parameters
    ----------
    x : array_like of shape (..., C, ...)
        Scores (logits). ``C = x.shape[axis]``.
    axis : int, default -1
        The dimension to normalise over.
    where : array_like of bool, broadcastable to x.shape, optional
        Entries that take part. Entries where False get exactly -inf and do not enter the shift.
    out : ndarray of shape x.shape, optional
        Buffer for the result, with the output dtype. May be ``x`` itself.

    Returns
    -------
    logp : ndarray of shape x.shape
        ``log(softmax(x))`` computed without forming ``softmax(x)`` (no log(0) underflow).

    Notes
    -----
    - dtype: as :func:`softmax` (float16 computed in float32, int/bool -> float64).
    - Finite input gives finite output whenever the true value is representable: within a slice,
      log s_i >= -(max - min) - log(C). Only when ``max - min`` itself overflows the dtype (e.g.
      [3e38, -3e38] in float32, whose true log-probability -6e38 is beyond float32's range) does
      the small entry round to -inf, exactly as IEEE arithmetic rounds an overflowing value;
      its probability exp(-6e38) is 0 in any dtype.
    - +inf entries share the mass: log(1/k) for the k +inf entries, -inf for the rest.
    - NaN stays in its slice. A slice whose selected entries are all -inf gives NaN; a slice with
      no selected entry gives all -inf, never NaN.
    - Accuracy: every entry is within about one rounding of 1 of the exact value, and at most
      0. The shift is skipped where :func:`softmax` skips it (the speed above), so near 0 this
      is an absolute accuracy, not a relative one: a slice of one entry may give -2e-8 in
      float32 rather than 0. :func:`logsumexp` and the cross-entropy keep their bounds there
      (at least the max; at least 0).

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import log_softmax
    >>> log_softmax(np.array([1.0, 2.0, 3.0]))
    array([-2.40760596, -1.40760596, -0.40760596])
    >>> log_softmax(np.array([1000.0, 0.0]))
    array([    0., -1000.])
    """
    xc, out_dtype, ax, mask = _prepare(x, axis, where, out, "log_softmax")
    buf = get_ops().log_softmax(xc, ax, mask, _buffer(xc, out))
    return to_output(buf, out_dtype, out)


@quiet_underflow
def logsumexp(
    x: ArrayLike, axis: int = -1, *, keepdims: bool = False, where: ArrayLike | None = None
) -> np.ndarray:
    """log(sum(exp(x))) along ``axis``, computed as m + log(sum(exp(x - m))) with m the max.

    Parameters
    ----------
    x : array_like of shape (..., C, ...)
        Values to reduce.
    axis : int, default -1
        The dimension to reduce.
    keepdims : bool, default False
        Keep the reduced dimension with size 1.
    where : array_like of bool, broadcastable to x.shape, optional
        Entries that take part; the others are left out of the sum.

    Returns
    -------
    lse : ndarray of shape x.shape without axis (or with size 1 there if keepdims)
        Output dtype as :func:`softmax`.

    Notes
    -----
    - Never overflows for finite input: the result lies in [m, m + log(C)].
    - Accuracy: computed as m + log1p(r), r the sum of the other entries' exp(x_j - m), the
      max's own term (exactly 1) left out of the sum (Blanchard, Higham and Higham, 2021; as
      ``scipy.special.logsumexp`` since SciPy 1.15). So a result near 0 is accurate relative
      to itself: ``logsumexp([0, -40])`` is 4.25e-18, where ``torch.logsumexp`` and
      m + log(1 + r) give 0. Elsewhere it is within a few roundings of the result, except
      where m + log1p(r) cancels (m < 0 near -log1p(r)), which no formula in the dtype avoids.
    - An empty slice, an all -inf slice or a slice with no selected entry gives -inf (the log of
      an empty sum); a +inf entry gives +inf; a NaN gives NaN for its slice only.

    Examples
    --------
    >>> import numpy as np
    >>> from softgrad.functional import logsumexp
    >>> logsumexp(np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -np.inf]]))
    array([   3.40760596, 1000.69314718])
    """
    xc, out_dtype, ax, mask = _prepare(x, axis, where, None, "logsumexp")
    total = get_ops().logsumexp(xc, ax, mask)
    if keepdims:
        total = np.expand_dims(total, ax)
    return to_output(total, out_dtype)

"""NumPy kernels: softmax, log-softmax and logsumexp.

The softmax, the log-softmax and the softmax-cross-entropy loss go through
:meth:`SoftmaxKernels.exp_rows` on C-contiguous (M, C) rows::

    e = exp(x - shift),  total = sum_j e_j          (per row)
    softmax = e / total,  log_softmax = x - shift - log(total)

logsumexp shifts by the max and sums the exps but the max's own (below).

The routine has two strategies, chosen per call by a check on the result, never by the machine:

- unshifted (shift = 0): exp(x) is summed directly and kept when every row sum S lies in
  [1, ``UNSHIFTED_MAX``] (2**64). Then no entry overflowed, and an entry that underflowed has
  probability exp(x_i) / S <= exp(x_i), below the smallest normal number, where the shifted
  formula underflows too. The upper bound keeps what is computed from S as accurate as the
  shifted formula's: S fits float32 (the row sums are kept in the logits' dtype), a scale over
  S (1 / S, or r / S for a mean over N rows) stays a normal number for any scale above 2**-62,
  and log(S) <= 44.4. (With [1, inf), a float32 row of logits near 88.7 had a subnormal 1 / S
  that kept a few bits, and rows that did not sum to 1.) It saves the max and subtract passes.
- shifted (shift = the row max): the textbook-safe formula, taken by the rows that fail the
  check (an overflow, S < 1, NaN, +-inf): in a call of ``APART_MIN`` entries or more their
  exps are taken again apart and the other rows keep the unshifted formula (their values those
  of the call without the failing rows); in a smaller call, or where more than a third of the
  rows fail, by the whole call. One failing row shifted every call: at 4096 x 10 float32 one
  row holding a logit of 200 took a softmax 359 us against 92 without it, now 134;
  log_softmax 472 -> 203, the cross-entropy 543 -> 188 (4096 x 100 float64: 7.5 -> 0.57 ms).
  Below 8,192 entries the apart rows' fancy indexing cost more (128 x 10: 42 -> 57 us), and
  so it did with half the rows failing (log_softmax 353-398 -> 371-521 us at 4096 x 10; a
  third: level or faster, a quarter: 266 against 354).

Measured here (2 loaded cores, float32): softmax at (4096, 1000) 15-17 ms unshifted against
21 ms shifted; at (128, 10) 17-21 us against 21-26 us.

The unshifted exps lose nothing for what is computed from them as a ratio (probabilities, the
cross-entropy's gradient). A log-domain result is another matter: log(S) carries the exps'
rounding (about one of the dtype's, absolute), where the shifted m + log(S') keeps its largest
term exactly 1 (S' >= 1). So:

- logsumexp always shifts: unshifted, it came out below the row max (float32 [0.8936608, -17.08]
  gave 0.8936607; float64 [1e-150] gave 0) and 200 roundings of itself off near 0 (float32
  [1e-3, -30]). Shifted it is at least the max and keeps the max's own precision where the
  other entries are below a rounding of it. And it is m + log1p(r), r the sum of the other
  entries' exps, with the max's own term (exactly 1) left out of the sum (Blanchard, Higham
  and Higham, "Accurately computing the log-sum-exp and softmax functions", IMA J. Numer.
  Anal. 2021; scipy.special.logsumexp since 1.15): m + log(1 + r) rounded 1 + r first, so
  [0, -40] gave 0 where it is 4.25e-18 (torch.logsumexp gives 0), and near 0 the result was
  accurate only to a rounding of 1; now it is relatively accurate wherever m + log1p(r) does
  not cancel (m >= 0, or r small against |m|).
- the cross-entropy keeps the unshifted exps for its gradient and takes its loss from them as
  a ratio, -log(e_y / S) (:func:`ratio_loss`): the rounding of exp(x_y) cancels, and the loss
  is never below 0 (log(S) - x_y gave -2.1e-8 for [20, 0], target 0, where it is 2.06e-9; a
  third of confident rows came out negative).
- log_softmax keeps the unshifted exps (the shifted rows cost 3x on the Numba lane at 4096 x
  1000): its log-probabilities are within about one rounding of 1 of exact, as the shifted
  formula's are, and at most 0; near 0 that is an absolute, not a relative, accuracy (a row of
  one entry gives -2e-8 rather than 0). log(S), up to 44.4, is taken in float64: for float32
  rows as two numbers of their dtype, and for float64 rows with one Newton step beyond its
  rounding (:func:`log_correction`), which alone was 16 roundings of 1.

Any other layout is brought to rows first: the class axis is moved last and a ``where`` mask
becomes -inf logits (a masked entry then gets exactly probability 0 and no part in the max).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from softgrad.checks.samples import all_finite
from softgrad.kernels.rows import as_rows, put_rows, row_blocks, row_sums, row_view

INF = np.inf

# the largest row sum whose unshifted exps are kept (module docstring)
UNSHIFTED_MAX = 2.0**64
# from this many entries the rows that fail the unshifted check are shifted apart (module
# docstring); in a smaller call the fancy indexing cost more than the shifted passes saved
APART_MIN = 8192


class SoftmaxKernels:
    """NumpyOps mixin: softmax, log-softmax and logsumexp normalisation."""

    def exp_rows(
        self, x: np.ndarray, e: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """e = exp(x - shift) row by row; returns ``(total, shift, rows)``.

        Parameters
        ----------
        x : ndarray of shape (M, C), C-contiguous, float32 or float64, M * C > 0
        e : ndarray of shape (M, C), x's dtype; written. Must not be ``x``.

        Returns
        -------
        total : ndarray of shape (M, 1)
            Row sums of ``e``, always > 0 (or NaN), so that dividing by it never warns.
        shift : ndarray of shape (M, 1), (R, 1) or None
            None when no shift was needed (every row sum in [1, ``UNSHIFTED_MAX``]). Otherwise
            the row max of every row (``rows`` None) or of the R rows ``rows`` (the others'
            exps unshifted),
            with the non-finite cases as their limits: a NaN row has shift 0 (its NaN flows
            through the sum); an all -inf row has shift -inf, total 1 and e NaN (it has no
            softmax, and its logsumexp is -inf); a row holding +inf has shift +inf and e 1 at
            its +inf entries, 0 elsewhere (the k +inf entries share the mass equally).
        rows : ndarray of intp of shape (R,), or None
            The rows taken shifted, in order, where the call has ``APART_MIN`` entries or more
            and they are at most a third of its rows (module docstring); None where the call took
            one strategy.
        """
        with np.errstate(over="ignore", under="ignore"):  # an overflow fails the check
            np.exp(x, out=e)
            total = row_sums(e).reshape(-1, 1)
        if total.min() >= 1.0 and total.max() <= UNSHIFTED_MAX:  # NaN fails both
            return total, None, None
        if x.size < APART_MIN:
            return (*self._exp_rows_shifted(x, e), None)
        kept = (total[:, 0] >= 1.0) & (total[:, 0] <= UNSHIFTED_MAX)
        rows = np.flatnonzero(~kept)
        if 3 * rows.size > len(x):
            return (*self._exp_rows_shifted(x, e), None)
        apart = x[rows]
        e_apart = np.empty_like(apart)
        total[rows], shift = self._exp_rows_shifted(apart, e_apart)
        e[rows] = e_apart
        return total, shift, rows

    def _exp_rows_shifted(self, x: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`exp_rows`' shifted strategy, for every row (the log-domain results take it
        whatever the sums: module docstring)."""
        # shift by the row max so exp() cannot overflow; a non-finite max cannot be a shift
        m = np.max(x, axis=1, keepdims=True)
        shift = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            np.subtract(x, shift, out=e)
            np.exp(e, out=e)
        posinf, neginf = np.isposinf(m[:, 0]), np.isneginf(m[:, 0])
        if posinf.any():
            e[posinf] = x[posinf] == INF
            shift[posinf] = INF
        if neginf.any():
            e[neginf] = np.nan
            shift[neginf] = -INF
        total = row_sums(e).reshape(-1, 1)
        if neginf.any():
            total[neginf] = 1.0
        return total, shift

    def logsumexp_rows(self, x: np.ndarray, e: np.ndarray) -> np.ndarray:
        """log(sum(exp(x))) of each row, shape (M, 1); ``e`` is scratch of x's shape.

        ``m + log1p(r)``, m the row's max and r the sum of the other entries' exp(x_j - m):
        the max's own term, exactly 1, stays out of the sum, so r keeps its digits where it
        is below a rounding of 1 (module docstring). -inf for an all -inf row, +inf for a
        row holding +inf, NaN for a row holding NaN.
        """
        rows = np.arange(x.shape[0])
        top = np.argmax(x, axis=1)  # a NaN row's first NaN: its m is NaN
        m = x[rows, top].reshape(-1, 1)
        # a non-finite max cannot be a shift: +-inf rows come out as m + log1p(r) with r's
        # exps unshifted (r >= 0, no NaN in such a row), +inf and -inf, their limits
        shift = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            np.subtract(x, shift, out=e)
            np.exp(e, out=e)
        e[rows, top] = 0.0
        rest = row_sums(e).reshape(-1, 1)
        lse = np.log1p(rest, out=rest)  # >= 0: logsumexp is at least the row max
        lse += m
        return lse

    def softmax(
        self,
        x: np.ndarray,
        axis: int = -1,
        where: np.ndarray | None = None,
        out: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> np.ndarray:
        """``scale * softmax(x)`` along ``axis`` into ``out`` (fresh if None; may be ``x``).

        x : float32/64 ndarray of shape S; where : bool ndarray of shape S or None.
        A slice with no selected entry gives zeros; an all -inf slice gives NaN.
        """
        out = np.empty_like(x) if out is None else out
        if x.size == 0:
            return out
        x2, empty = self.masked_rows(x, axis, where)
        out2 = row_view(out, axis)
        direct = out2 is not None and not np.may_share_memory(out2, x2)
        e = out2 if out2 is not None and direct else np.empty_like(x2)
        self.softmax_rows(x2, e, scale)
        if empty is not None:
            e[empty] = 0.0
        return out if direct else put_rows(e, out, axis)

    def softmax_rows(self, x: np.ndarray, e: np.ndarray, scale: float = 1.0) -> None:
        """``e = scale * softmax(x)`` row by row: x of shape (M, C) as :meth:`exp_rows` takes
        it, ``e`` of its shape and dtype, not x (the one routine a lane replaces)."""
        total, _, _ = self.exp_rows(x, e)  # a ratio: each row's shift cancels
        if scale != 1.0:
            np.multiply(e, np.divide(scale, total), out=e)
        else:
            np.divide(e, total, out=e)

    def softmax_rows_finite(self, x: np.ndarray, e: np.ndarray) -> bool:
        """:meth:`softmax_rows` (probabilities), and whether every entry of x is finite:
        inference's check of its logits, which a softmax can hide (-inf gives a probability
        of 0, +inf one of 1/k). Here one more pass over x (:func:`all_finite`); the Numba lane
        reads them in the softmax's own pass."""
        finite = all_finite(x)
        self.softmax_rows(x, e)
        return finite

    def log_softmax(
        self,
        x: np.ndarray,
        axis: int = -1,
        where: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``log_softmax(x)`` along ``axis`` into ``out`` (fresh if None; may be ``x``).

        Masked entries and a slice with no selected entry give -inf; k +inf entries give
        log(1/k) there and -inf elsewhere; an all -inf slice gives NaN.
        """
        out = np.empty_like(x) if out is None else out
        if x.size == 0:
            return out
        x2, empty = self.masked_rows(x, axis, where)
        out2 = row_view(out, axis)
        buf = out2 if out2 is not None else np.empty_like(x2)
        self.log_softmax_rows(x2, buf)
        if empty is not None:
            buf[empty] = -INF
        return out if out2 is not None else put_rows(buf, out, axis)

    def log_softmax_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        """``out = log_softmax(x)`` row by row: x of shape (M, C) as :meth:`exp_rows` takes it,
        ``out`` of its shape and dtype, may be x (the one routine a lane replaces)."""
        # the exps are scratch: into out unless it is x. A fresh (M, C) scratch cost more than
        # the whole computation at 512 x 1000 float64 (5.3 against 1.0 ms: the allocator hands
        # so large a block back to the system at every call, and each call faults it in anew)
        scratch = np.empty_like(x) if np.may_share_memory(x, out) else out
        total, shift, rows = self.exp_rows(x, scratch)
        del scratch
        if rows is None and shift is not None:
            _shifted_log_softmax(x, total, shift, out)
            return
        if rows is None:
            _unshifted_log_softmax(x, total, out)
            return
        assert shift is not None  # the shifted rows' maxima
        apart = x[rows]  # read before out (which may be x) is written
        # every row as an unshifted one (the shifted rows' totals are no unshifted sums: their
        # results, which may warn, are written again below)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            _unshifted_log_softmax(x, total, out)
        _shifted_log_softmax(apart, total[rows], shift, apart)
        out[rows] = apart

    def masked_rows(
        self, x: np.ndarray, axis: int, where: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(M, C) rows of x, ``axis`` last (see :mod:`softgrad.kernels.rows`), with the entries
        ``where`` leaves out as -inf (a fresh array then); and a bool mask of the rows that keep
        no entry, None without a mask or where every row keeps one."""
        if where is None:
            return as_rows(x, axis), None
        x2 = as_rows(np.where(where, x, -INF), axis)
        empty = np.logical_not(as_rows(where, axis).any(axis=1))
        return x2, empty if empty.any() else None

    def logsumexp(self, x: np.ndarray, axis: int = -1, where: np.ndarray | None = None):
        """log(sum(exp(x))) along ``axis``: shape S without ``axis``; -inf for empty slices."""
        ax = axis % x.ndim
        lead = x.shape[:ax] + x.shape[ax + 1 :]
        if x.size == 0:
            return np.full(lead, -INF, x.dtype)
        x2, _ = self.masked_rows(x, axis, where)
        total = np.empty((x2.shape[0], 1), dtype=x2.dtype)
        # the exponentials of a block at a time
        for rows, e in row_blocks(x2.shape[0], x2.shape[1], x2.dtype):
            total[rows] = self.logsumexp_rows(x2[rows], e)
        return total.reshape(lead)


def log_correction(total: np.ndarray, log_total: np.ndarray) -> np.ndarray:
    """``log(total) - log_total``, ``log_total`` the float64 log of float64 sums ``total``:
    (S - exp(L)) / S, one Newton step (S and exp(L) agree to a rounding, so their difference is
    exact, and the step is as accurate as exp).

    A float64 unshifted row's ``x - log(S)`` took log(S), up to 44.4, rounded to float64: 16
    roundings of 1 off a log-probability near 0 ([33.27, 0] gave -7.1e-15 for -3.56e-15), where
    the shifted formula's log(S') is at most log(C); with the step, ``(x - L) - step`` is within
    about a rounding of 1, as float32's rows are with log(S) in float64 (module docstring).

    Example
    -------
    >>> total = np.array([np.exp(33.0) + 1.0])
    >>> L = np.log(total)
    >>> abs(float(L[0] + log_correction(total, L)[0]) - 33.0) < 1e-14
    True
    """
    return np.divide(total - np.exp(log_total), total)


def _unshifted_log_softmax(x: np.ndarray, total: np.ndarray, out: np.ndarray) -> None:
    """``out = x - log(total)`` of rows whose exps were kept unshifted (:meth:`SoftmaxKernels.
    exp_rows`; ``out`` may be x), log(S) as two numbers of x's dtype, ``(x - hi) - lo``:
    log(S) (up to 44.4) rounded to float32 alone put its rounding error on every
    log-probability (up to 32 roundings near 0), and one float64 subtraction took twice the
    time."""
    log_total = np.log(total, dtype=np.float64)
    hi = log_total.astype(x.dtype)
    np.subtract(x, hi, out=out)
    if x.dtype != np.float64:
        out -= (log_total - hi).astype(x.dtype)
    else:
        out -= log_correction(total, log_total)
    # at most 0, as a log-probability is (and the shifted path gives): exp(x) rounded before
    # the sum put a row's one dominant entry up to a rounding above 0. Checked first: a max
    # costs 5 us at 1024 x 100, np.minimum over every entry 37 us (a NaN max, from rows
    # written again after, fails the check: np.minimum keeps NaN anyway)
    if not out.max() <= 0:
        np.minimum(out, 0, out=out)


def _shifted_log_softmax(
    x: np.ndarray, total: np.ndarray, shift: np.ndarray, out: np.ndarray
) -> None:
    """``out = (x - shift) - log(total)`` of rows whose exps were shifted by their maximum
    (:meth:`SoftmaxKernels.exp_rows`: (M, 1) ``total`` and ``shift``; ``out`` may be x), with
    the limits of rows holding +inf: log(1/k) at their k +inf entries, -inf elsewhere."""
    hits = _posinf_hits(x, shift)
    log_total = np.log(total)
    # (x - shift) - log(total), in this order: x - (shift + log(total)) would round the small
    # log(total) to the large shift's precision. -inf - -inf gives an all -inf row its NaN;
    # x - shift overflows only where the true log-probability is beyond the dtype's range
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        np.subtract(x, shift, out=out)
    out -= log_total
    if hits is not None:  # inf - inf at the +inf entries: their limit log(1/k)
        rows, at = hits
        k = np.sum(at, axis=1, keepdims=True)
        out[rows] = np.where(at, -np.log(k), -INF)


def _posinf_hits(x2: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    # rows whose max is +inf, and where their +inf entries are (read before x2 is overwritten)
    rows = np.isposinf(shift[:, 0])
    if not rows.any():
        return None
    return rows, x2[rows] == INF


# the target's exp from which the cross-entropy of an unshifted row is log(S / e_y): S <= 2**64
# (UNSHIFTED_MAX), so the ratio stays below 2**127, within float32 (and no exp below it has
# lost bits to underflow). Below it the loss is log(S) - x_y, at least 43 (S >= 1), where a
# rounding of log(S) is relatively small
RATIO_MIN = 2.0**-63


def ratio_loss(total: np.ndarray, e_y: np.ndarray, x_y: Callable[[], np.ndarray]) -> np.ndarray:
    """The cross-entropy -log(e_y / S) in float64 of rows whose exps were kept unshifted:
    ``total`` the row sums S of the exps, ``e_y`` the target's exp, each of shape (N,), and
    ``x_y()`` its logits, read only where an exp is below ``RATIO_MIN`` (rare).

    log(S / e_y): the rounding of exp(x_y) cancels (log(S) - x_y put it on the loss), and the
    loss is never below 0, as S >= e_y holds for rounded sums of non-negative terms. A target
    whose exp is below ``RATIO_MIN`` takes log(S) - x_y (module docstring).
    The ratio is rounded to S's dtype (an absolute error of about one rounding; the Numba lane
    takes log1p((S - e_y) / e_y) from its float64 sums, relative to the loss itself).

    Example
    -------
    >>> x = np.array([[20.0, 0.0]], np.float32)
    >>> e = np.exp(x)
    >>> float(ratio_loss(e.sum(axis=1), e[:, 0], lambda: x[:, 0])[0]) >= 0
    True
    """
    if e_y.min() >= RATIO_MIN:  # the rule: S / e_y < 2**127, no errstate needed
        return np.log(np.divide(total, e_y), dtype=np.float64)
    small = ~(e_y >= RATIO_MIN)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        loss = np.log(np.divide(total, e_y), dtype=np.float64)
    loss[small] = np.log(total[small], dtype=np.float64) - x_y()[small]
    return loss

"""Numba kernels: softmax and log_softmax of (N, C) rows, and the softmax VJP.

Every softmax and log_softmax of the Numba lane comes here (NumbaOps brings any axis and mask
to rows first): :func:`softmax_rows` and :func:`log_softmax_rows` take blocks of rows, split in
shares over Numba's threads from ``PARALLEL_MIN`` elements; :func:`softmax_long_rows` and
:func:`log_softmax_long_rows` take rows of ``LONG_ROW`` or more into another array one at a
time. :func:`softmax_vjp_rows` is the backward, ``s * (g - sum(g * s))`` row by row. Results
and limits are the NumPy lane's (softgrad.kernels.softmax; softmax_vjp_rows:
softgrad.kernels.activations).

How a row's exps are taken, by blocks unshifted where their sums keep them or shifted by the
row's maximum, is :mod:`softgrad.kernels.numba_exp_rows`, which the fused softmax-cross-entropy
kernels (:mod:`softgrad.kernels.numba_losses`) share. The seam between the two families is what
they return: here probabilities, log-probabilities and a cotangent, each row on its own; there a
loss, its gradient and a count, summed over the rows in order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from softgrad.kernels.numba_activations import CHEAP_PARALLEL_MIN
from softgrad.kernels.numba_exp_rows import (
    LONG_ROW,
    SOFTMAX_BLOCK,
    _argmax,
    _exp_block,
    _exp_block_shifted,
    _exp_shifted,
    _exps_into,
    _keeps_unshifted,
    _kept_sum,
    _max_without_nan,
    _row_dot,
    _row_max,
    _row_sum,
    _shifted_exps,
)
from softgrad.kernels.numba_math import exp, holds_nonfinite, log1p
from softgrad.kernels.numba_threads import parallel_kernel

__all__ = [
    "log_softmax_jvp_rows",
    "log_softmax_long_rows",
    "log_softmax_rows",
    "log_softmax_vjp_rows",
    "logsumexp_rows",
    "select_rows",
    "softmax_long_rows",
    "softmax_rows",
    "softmax_vjp_rows",
]


@parallel_kernel
def softmax_rows(x, out, scale, n_shares, check=False):
    """``out[n] = scale * softmax(x[n])`` for each row; with ``check``, returns how many rows
    of x held a NaN or an infinity (read block by block before the block is written), else 0.

    Parameters
    ----------
    x : ndarray of shape (N, C)
        C-contiguous float32 or float64, C >= 1.
    out : ndarray of shape (N, C)
        x's dtype; may be ``x`` itself, and must not otherwise overlap it.
    scale : float
        The rows sum to ``scale`` (1 for probabilities).
    n_shares : int
        The blocks are split in this many shares, each with its own scratch, one per thread on
        the threaded compile (from ``PARALLEL_MIN`` elements); 1 on the calling thread.
    check : bool, default False
        Count the rows of x that hold a NaN or an infinity (``numba_math.holds_nonfinite``).

    Returns
    -------
    int
        With ``check``, that count (an integer sum: the same for any split); else 0.

    Notes
    -----
    The NumPy lane's two strategies (softgrad.kernels.softmax), decided per block of rows
    (``SOFTMAX_BLOCK`` elements, at least one row) instead of per call: exp(x) over the whole
    block in one flat loop (vectorised), the row sums S, and when every sum keeps them
    (:func:`_keeps_unshifted`) the result is ``scale * exp(x) / S``; otherwise each row of the
    block is shifted by its maximum m (:func:`_exp_block_shifted`), with the NumPy lane's
    limits: NaN throughout for a row holding NaN or only -inf; for the k +inf entries of a row
    1/k and 0 elsewhere. Flat passes let the CPU overlap the rows' short dependency chains,
    where one row at a time (max, exps, sum, scale) waited on each: softmax at 1024 x 10
    float32, 10 us against 83 us row by row, and 47 us for the NumPy lane (22 us while each
    row's sum was a call of the vectorised sum: ``SHORT_ROW``).

    A row depends on its block alone (whether the block keeps its exps unshifted), and the
    shares split at blocks, so the split changes no bit. The body is the loop over the shares
    alone: below ``PARALLEL_MIN`` elements the calling-thread twin runs it
    (``parallel_kernel``), so it holds one copy of the block routine and its exps. With a
    second copy for a serial branch, and log_softmax's in the same kernel, a first softmax
    (an empty cache) compiled for 8.0 s. (The share loop is written out in both kernels: one
    inlined helper taking the routine as a constant compiled both routines, 2.9 s against
    1.8 s.)
    """
    n_rows, n_classes = x.shape
    rows = max(1, SOFTMAX_BLOCK // n_classes)
    n_blocks = (n_rows + rows - 1) // rows
    found = np.zeros(n_shares, dtype=np.int64)  # rows with NaN or inf, per share
    for share in prange(n_shares):
        e = np.empty(rows * n_classes, dtype=x.dtype)
        sums = np.empty(rows)
        for block in range(share * n_blocks // n_shares, (share + 1) * n_blocks // n_shares):
            if check:  # inference's check of the logits, in the pass that reads them
                for n in range(block * rows, min(block * rows + rows, n_rows)):
                    found[share] += holds_nonfinite(x[n])
            _softmax_block(x, out, scale, block * rows, rows, e, sums)
    # a count per share, summed after the loop: Numba's threaded compile lost a scalar sum made
    # in the inner loops (it returned 0), and failed to compile one summed a share at a time
    return found.sum()


@parallel_kernel
def log_softmax_rows(x, out, n_shares):
    """``out[n] = log_softmax(x[n])`` for each row: :func:`softmax_rows`' blocks and shares.

    A block kept unshifted gives ``x - log(S)``, in float64 and rounded once (log(S), up to
    44.4, rounded to float32 first put up to 1.9e-6 on every entry); a shifted row
    ``(x - m) - log(S)`` in that order
    (the small log(S) is not rounded to a large m's precision), -inf where ``x - m`` is beyond
    the dtype's range; the limits are the NumPy lane's (``-log(k)`` at the k +inf entries of a
    row and -inf elsewhere, NaN throughout for a row holding NaN or only -inf).
    """
    n_rows, n_classes = x.shape
    rows = max(1, SOFTMAX_BLOCK // n_classes)
    n_blocks = (n_rows + rows - 1) // rows
    for share in prange(n_shares):
        e = np.empty(rows * n_classes, dtype=x.dtype)
        sums = np.empty(rows)
        for block in range(share * n_blocks // n_shares, (share + 1) * n_blocks // n_shares):
            _log_softmax_block(x, out, block * rows, rows, e, sums)


@njit(inline="always")
def _softmax_block(x, out, scale, start, rows, e, sums):
    """Rows start .. start + rows of :func:`softmax_rows`; ``e`` and ``sums`` are scratch.
    The block of x is read in full before out (which may be x) is written."""
    stop = min(start + rows, x.shape[0])
    n_classes = x.shape[1]
    if not _exp_block(x, start, stop, e, sums):
        _exp_block_shifted(x, start, stop, e, sums)
    for r in range(stop - start):
        factor = out.dtype.type(scale / sums[r])  # NaN for a NaN row, whose e is NaN
        row = out[start + r]
        for c in range(n_classes):
            row[c] = e[r * n_classes + c] * factor


@njit(inline="always")
def _log_softmax_block(x, out, start, rows, e, sums):
    """The log_softmax of :func:`_softmax_block`'s rows (its scratch, the same order)."""
    stop = min(start + rows, x.shape[0])
    n_classes = x.shape[1]
    if _exp_block(x, start, stop, e, sums):
        for r in range(stop - start):
            _minus_log(x[start + r], out[start + r], sums[r])
        return
    shift = _exp_block_shifted(x, start, stop, e, sums)
    for r in range(stop - start):
        _minus_shifted_log(x[start + r], out[start + r], shift[r * n_classes], sums[r])


@parallel_kernel
def softmax_long_rows(x, out, scale):
    """:func:`softmax_rows` for long rows (``LONG_ROW``) into an array that is not ``x``: each
    row's exps written straight into its row of ``out``, summed there, and scaled in place.

    The same results as softmax_rows' blocks, decided per row instead of per block: a row
    whose sum keeps its exps (:func:`_keeps_unshifted`) is ``scale * exp(x) / S``, any other
    is shifted by its maximum (:func:`_exp_shifted`, with the NumPy lane's limits). ``out`` must not
    overlap ``x``: the shifted row reads x after its first exps were written. Each row depends on
    itself alone.
    """
    n_classes = x.shape[1]
    for n in prange(x.shape[0]):
        source = x[n]
        target = out[n]
        mass = _exps_into(source, target)
        if not _keeps_unshifted(mass):
            mass = _exp_shifted(source, target, _row_max(source))
        factor = out.dtype.type(scale / mass)  # NaN for a NaN row, whose target is NaN
        for c in range(n_classes):
            target[c] *= factor


@parallel_kernel
def log_softmax_long_rows(x, out):
    """:func:`log_softmax_rows` for long rows into an array that is not ``x``: each row's
    exps written into its row of ``out`` for their sum, then ``x - log(S)`` over them, or the
    shifted row (:func:`_log_softmax_shifted_row`), decided per row."""
    for n in prange(x.shape[0]):
        source = x[n]
        target = out[n]
        mass = _exps_into(source, target)
        if _keeps_unshifted(mass):
            _minus_log(source, target, mass)
        else:
            _log_softmax_shifted_row(source, target, target)


@njit(inline="always")
def _minus_log(source, target, total):
    """``target = source - log(total)``, an unshifted row's log_softmax, with log(total) as two
    numbers of target's dtype, ``(source - hi) - lo``: log(total) rounded to float32 alone put
    its rounding error on every entry (up to 32 roundings of a log-probability near 0 with
    logits near 88), and the subtraction in float64 cost 15% at 64 x 10,000. A float64 row's
    ``lo`` is log(S)'s own rounding, by one Newton step (the NumPy lane's log_correction)."""
    log_total = math.log(total)
    hi = target.dtype.type(log_total)
    if target.itemsize == 8:  # float64: log(S) beyond its rounding (kernels.softmax.log_correction)
        lo = target.dtype.type((total - math.exp(log_total)) / total)
    else:
        lo = target.dtype.type(log_total - np.float64(hi))
    zero = target.dtype.type(0.0)
    for c in range(source.size):
        # at most 0, as a log-probability is (and the shifted path gives): exp(x) rounded
        # before the sum put a row's one dominant entry up to a rounding above 0
        value = (source[c] - hi) - lo
        target[c] = value if value < zero else zero


@njit(error_model="numpy")
def _log_softmax_shifted_row(source, target, scratch):
    """log_softmax of one long row shifted by its maximum m: :func:`_minus_shifted_log`.
    ``scratch`` (a row's length) takes the exps: it may be ``target`` where target is not
    ``source``."""
    m = _row_max(source)
    mass = _exp_shifted(source, scratch, m) if m - m == 0 else np.nan  # not read: limits
    _minus_shifted_log(source, target, m, mass)


@njit(inline="always")
def _minus_shifted_log(source, target, m, total):
    """``target = (source - m) - log(total)`` (target may be source): the log_softmax of a row
    shifted by its maximum m, whose exps sum to ``total``, with the NumPy lane's limits:
    ``-log(k)`` at the k +inf entries of a row holding +inf and -inf elsewhere, NaN throughout
    for a row holding NaN or only -inf (then ``total`` is not read)."""
    n_classes = source.size
    if m != m or m == -np.inf:
        for c in range(n_classes):
            target[c] = np.nan
    elif m == np.inf:
        k = 0
        for c in range(n_classes):
            k += source[c] == np.inf
        at_inf = target.dtype.type(-math.log(k))
        for c in range(n_classes):
            target[c] = at_inf if source[c] == np.inf else -np.inf
    else:
        log_total = target.dtype.type(math.log(total))
        for c in range(n_classes):
            target[c] = (source[c] - m) - log_total


@parallel_kernel
def logsumexp_rows(x, out, n_shares):
    """``out[n] = logsumexp(x[n])`` for each row, the NumPy lane's formula (NumpyOps.
    logsumexp_rows): ``m + log1p(r)``, m the row's maximum and r the sum of the other entries'
    exp(x - m), the maximum's own term (exactly 1) left out, so that r keeps its digits below a
    rounding of 1; in float64, rounded once to out's dtype (the NumPy lane sums and adds in the
    dtype: float32 [log 0.5, log 0.5] gives -1.9e-9 here, the inputs' rounding, and 0 there).
    A row whose maximum is not finite gives it: NaN for a row holding NaN, +inf, or -inf for a
    row of -inf.

    Blocks of rows and shares as :func:`softmax_rows` (a block's exps in one flat loop, each
    row shifted by its maximum: :func:`_logsumexp_block`); rows of ``LONG_ROW`` or more one at
    a time, their maximum in running maxima (:func:`_logsumexp_long_row`). The NumPy lane's
    argmax, fancy indexing and exps took 2.5-4x the Numba lane's softmax (4096 x 10 float32:
    153 against 51 us). log1p is numba_math's (within 1 ulp of the correctly rounded value,
    where the C library's is nearly always correctly rounded: float64 results may move by an
    ulp), a block's in one flat loop: 4096 x 10 float32 134 -> 118 us, 4096 x 40 649 -> 566.
    """
    n_rows, n_classes = x.shape
    rows = max(1, SOFTMAX_BLOCK // n_classes)
    n_blocks = (n_rows + rows - 1) // rows
    for share in prange(n_shares):
        e = np.empty(rows * n_classes, dtype=x.dtype)
        # a block's maxima and sums r, for its logs in one flat loop
        maxima = np.empty(rows, dtype=np.float64)
        sums = np.empty(rows, dtype=np.float64)
        for block in range(share * n_blocks // n_shares, (share + 1) * n_blocks // n_shares):
            start = block * rows
            stop = min(start + rows, n_rows)
            if n_classes >= LONG_ROW:
                for n in range(start, stop):
                    out[n] = _logsumexp_long_row(x[n], e[:n_classes])
            else:
                _logsumexp_block(x, out, start, stop, e, maxima, sums)


@njit(inline="always")
def _logsumexp_block(x, out, start, stop, e, maxima, sums):
    """Rows start .. stop of :func:`logsumexp_rows`, short ones: the block's exps shifted by
    each row's maximum in one flat loop (:func:`_shifted_exps`), then each row's sum of the
    exps of its entries below the maximum, plus 1 for each further entry equal to it, into
    ``sums`` (its maximum into ``maxima``), then the block's logs in one flat loop (numba_math's
    log1p, vectorised: the C library's, one call per row, took about a third of the time)."""
    n_classes = x.shape[1]
    shift = _shifted_exps(x, start, stop, e)
    n = stop - start
    for r in range(n):
        row = x[start + r]
        lo = r * n_classes
        m = shift[lo]
        rest = 0.0
        ties = 0.0
        for c in range(n_classes):
            tie = row[c] == m
            ties += 1.0 if tie else 0.0
            rest += 0.0 if tie else np.float64(e[lo + c])
        # m's own entry is one of the ties; a tie added into rest first would take its digits
        maxima[r] = m
        sums[r] = rest + (ties - 1.0)
    for r in range(n):
        m = maxima[r]
        # NaN or +-inf: the result (np.max's NaN for a row holding NaN)
        out[start + r] = m + log1p(sums[r]) if m - m == 0 else m


@njit(error_model="numpy")
def _logsumexp_long_row(row, e):
    """logsumexp of one long row (:func:`logsumexp_rows`), ``e`` scratch of its length: its
    maximum m in running maxima; the exps of the entries below m (a NaN's is NaN, and so is
    the result) and their sum, plus 1 for each further entry equal to m. A maximum that is not
    finite takes :func:`_argmax`'s, which names a NaN the running maxima pass over."""
    m = _max_without_nan(row)
    if not m - m == 0:
        return np.float64(row[_argmax(row)])
    zero = row.dtype.type(0)
    for c in range(row.size):
        v = row[c]
        e[c] = exp(v - m) if v != m else zero
    ties = _count_equal(row, m)  # m's own entry among them
    return np.float64(m) + log1p(_row_sum(e, 0, row.size) + (ties - 1.0))


@njit(error_model="numpy", fastmath={"reassoc"})
def _count_equal(row, m):
    """How many entries of ``row`` equal ``m``, as a float64 sum (reassociated: vector
    registers; the terms are 0 and 1, so any order gives the same count)."""
    count = 0.0
    for c in range(row.size):
        count += 1.0 if row[c] == m else 0.0
    return count


@parallel_kernel
def log_softmax_vjp_rows(logp, g, out):
    """``out[n] = g[n] - exp(logp[n]) * sum(g[n])`` for each row: the log_softmax VJP, with the
    NumPy lane's masked entries (NumpyOps.log_softmax_vjp): where logp is -inf the gradient is
    exactly 0 and g leaves the sum. The sum is accumulated in float64 (:func:`_kept_sum`), then
    rounded to the dtype (the NumPy lane adds in the dtype: a float32 sum that passes float32's
    range is inf there and finite here); exp is numba_math's. ``out`` may be ``g``, not
    ``logp``. The NumPy lane's float64 exp of a log-probability below -708 (a
    subnormal probability) or of -inf took its slow path: 33x the time at 512 x 1000."""
    for n in prange(logp.shape[0]):
        _log_softmax_vjp_row(logp[n], g[n], out[n])


@njit(inline="always")
def _log_softmax_vjp_row(logp, g, out):
    zero = out.dtype.type(0)
    total = out.dtype.type(_kept_sum(g, logp))
    for c in range(logp.size):  # out may be g: each entry read before it is written
        value = logp[c]
        out[c] = g[c] - exp(value) * total if value != -np.inf else zero


@parallel_kernel
def log_softmax_jvp_rows(logp, v, out, n_shares):
    """``out[n] = v[n] - sum(exp(logp[n]) * v[n])`` for each row: the log_softmax JVP, with the
    NumPy lane's masked entries (NumpyOps.log_softmax_jvp): 0 where logp is -inf, whose v
    leaves the sum. The dot product is accumulated in float64 (:func:`_row_dot`), then rounded
    to the dtype; exp is numba_math's. ``out`` may be ``v``, not ``logp``. The rows are split
    in ``n_shares`` shares, each with its scratch rows (the exps and the kept tangent). As the
    VJP's, the NumPy lane's float64 exp of a subnormal probability or of -inf was its slow
    path."""
    n_rows, n_classes = logp.shape
    for share in prange(n_shares):
        s = np.empty(n_classes, dtype=logp.dtype)
        kept = np.empty(n_classes, dtype=logp.dtype)
        for n in range(share * n_rows // n_shares, (share + 1) * n_rows // n_shares):
            _log_softmax_jvp_row(logp[n], v[n], out[n], s, kept)


@njit(inline="always")
def _log_softmax_jvp_row(logp, v, out, s, kept):
    zero = out.dtype.type(0)
    for c in range(logp.size):  # read before out (may be v) is written
        value = logp[c]
        s[c] = exp(value) if value != -np.inf else zero
        kept[c] = v[c] if value != -np.inf else zero
    total = out.dtype.type(_row_dot(s, kept))
    for c in range(logp.size):
        out[c] = kept[c] - total if logp[c] != -np.inf else zero


@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)  # a select per entry: a cheap pass
def select_rows(x, keep, out, empty):
    """``out = x`` where ``keep`` holds and -inf elsewhere, row by row, and ``empty[n]``
    whether row n keeps no entry: a masked softmax's rows (NumpyOps.masked_rows), in one
    branch-free pass. ``keep`` is a bool array of x's shape, any strides (a broadcast mask)."""
    fill = x.dtype.type(-np.inf)
    for n in prange(x.shape[0]):
        row = x[n]
        mask = keep[n]
        target = out[n]
        kept = 0
        for c in range(row.size):
            take = mask[c]
            target[c] = row[c] if take else fill
            kept += take
        empty[n] = kept == 0


@parallel_kernel
def softmax_vjp_rows(s, g, out):
    """``out[n] = s[n] * (g[n] - sum(g[n] * s[n]))`` for each row: the softmax VJP.

    Parameters
    ----------
    s, g : ndarray of shape (N, C)
        C-contiguous, one float dtype: the softmax output and the cotangent.
    out : ndarray of shape (N, C)
        s's dtype; may be ``g``, not ``s``.

    The row's dot product is accumulated in float64 (:func:`_row_dot`) before the row of
    ``out`` is written.
    """
    # each row depends on itself alone, so the split among the threads changes no bit: on the
    # threads from PARALLEL_MIN elements, else the calling-thread twin runs these loops
    # (parallel_kernel; one copy of the row routine per loop, where a serial branch of its own
    # added two: 1024 x 10 float32 7.9 -> 7.6 us, and in place on the threads 978 -> 380 us at
    # 1100 x 1000, whose threaded branch had no in-place loop)
    if out.ctypes.data == g.ctypes.data:  # in place: one array, no aliasing doubt
        for n in prange(s.shape[0]):
            row = out[n]  # g's memory, written through out: a read-only g types (never written)
            _softmax_vjp_row(s[n], row, row)
    else:
        for n in prange(s.shape[0]):
            _softmax_vjp_row(s[n], g[n], out[n])


@njit(inline="always")
def _softmax_vjp_row(s, g, out):
    dot = out.dtype.type(_row_dot(s, g))
    for c in range(s.size):
        out[c] = s[c] * (g[c] - dot)

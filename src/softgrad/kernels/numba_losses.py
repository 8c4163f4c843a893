"""Numba kernels: softmax-cross-entropy loss, gradient and correct predictions in one pass;
softmax and log_softmax (:func:`softmax_rows`, :func:`log_softmax_rows`) from the same row
routine.

For each row n of the logits, with target y_n, weight w_n (1 without weights; 0, and no hit,
for a row whose target is the ignored index) and the scale r (1/sum(w) for the mean, which
:func:`softmax_cross_entropy` computes; the caller's r_n for the per-row pair)::

    m_n    = max_c logits[n, c], or 0 (below)     (the shift: exp never overflows)
    S_n    = sum_c exp(logits[n, c] - m_n)         (accumulated in float64)
    loss   = r * sum_n w_n * (log(S_n) - (logits[n, y_n] - m_n))
    grad   = r * w_n * (exp(logits - m_n) / S_n - onehot(y_n))
    correct = sum_n w_n * [argmax_c logits[n, c] == y_n]

As in the NumPy lane (softgrad.kernels.softmax), the shift is skipped where it changes nothing:
the rows go in blocks (``SOFTMAX_BLOCK`` elements), whose exps are taken unshifted in one flat
loop, and kept when every row sum of the block lies in [1, ``UNSHIFTED_MAX``] (2**64, the NumPy
lane's bound: what is computed from S, 1 / S, r / S, log(S), stays as accurate as the shifted
formula's); a block that fails the check is shifted row by row. The flat loops run 8 float32 lanes
wide (the exp of numba_math), where a row of 10 at a time waited on its own chain of max, exps and
sum: the training step's softmax-cross-entropy (128 x 10 float32) 13 -> 7.6 us, softmax (1024 x 10)
83 -> 22 us.

Edge cases are those of :func:`softgrad.functional.cross_entropy` and ``np.argmax``: -inf
logits take no mass; the k +inf logits of a row share its mass (loss log(k) when the target is
one of them, inf otherwise); a row holding NaN, or only -inf, has a NaN loss and a NaN gradient
row and no other row is touched; a row whose loss lies beyond the dtype's range (logits
spanning more than it, e.g. [3e38, -3e38] in float32) has an infinite loss; argmax takes the
first maximum, and a NaN is the maximum.
An empty batch (N = 0) gives a loss of 0.

Rows are independent and the loss and the count are summed over the rows in order, so the
result is bit-identical run to run. At the training step's shapes (128 x 10) the whole pass is
a few microseconds: it stays on the calling thread.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from softgrad.kernels.numba_math import exp
from softgrad.kernels.numba_threads import kernel, parallel_kernel
from softgrad.kernels.softmax import UNSHIFTED_MAX

__all__ = [
    "log_softmax_long_rows",
    "log_softmax_rows",
    "softmax_cross_entropy",
    "softmax_cross_entropy_long_rows",
    "softmax_cross_entropy_rows",
    "softmax_cross_entropy_rows_grad",
    "softmax_long_rows",
    "softmax_rows",
    "softmax_vjp_rows",
]

# elements per block of softmax_rows and log_softmax_rows (whole rows, at least one): its exps
# stay in L1 (32 KB) between the passes
SOFTMAX_BLOCK = 2048


@kernel
def softmax_cross_entropy(logits, target, weight, ignore, use_ignore, grad):
    """Mean loss, gradient and the (weighted) count of correct argmax predictions, one pass.

    Parameters
    ----------
    logits : ndarray of shape (N, C)
        C-contiguous float32 or float64.
    target : ndarray of int of shape (N,)
        Class indices; checked here, before anything is written (a row whose target is
        ``ignore`` is not checked).
    weight : ndarray of shape (N,) or (0,)
        Per-sample weights (float64); an empty array weighs every sample 1.
    ignore : int
        With ``use_ignore``, the target value of rows that count in nothing: no loss, no
        weight, no hit, a zero gradient row.
    use_ignore : bool
    grad : ndarray of shape (N, C)
        Written with dL/dlogits in logits' dtype; may be ``logits`` itself (in place).

    Returns
    -------
    loss : float
        r * sum_n w_n * loss_n with r = 1 / sum_n w_n (the rows not ignored, summed in order),
        in float64 (the caller rounds it to the logits' dtype). A total weight of 0 (an empty
        batch, every row ignored or weighing 0) gives 0 and a zero gradient.
    correct : float
        sum_n w_n over the rows whose argmax is the target; -1.0 when a target is out of
        range (then nothing is written and the caller takes the NumPy lane, which raises).
    """
    n_rows, n_classes = logits.shape
    scale = _mean_scale(target, weight, ignore, use_ignore, grad)
    if not scale > 0:  # -1: a target out of range, nothing written; 0: no weight, grad 0
        return 0.0, scale
    total = 0.0
    correct = 0.0
    # blocks of rows as softmax_rows takes them: flat unshifted exps where every row sum of
    # the block keeps them (_keeps_unshifted), each row shifted by its maximum otherwise
    rows = max(1, SOFTMAX_BLOCK // n_classes)
    e = np.empty(rows * n_classes, dtype=logits.dtype)
    sums = np.empty(rows)
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        direct = _exp_block(logits, start, stop, e, sums)
        for n in range(start, stop):
            if use_ignore and target[n] == ignore:
                grad[n] = 0
                continue
            w = weight[n] if weight.size else 1.0
            if direct:
                row_loss, hit = _row_unshifted(
                    logits[n], target[n], w * scale, e, n - start, sums[n - start], grad[n]
                )
            else:  # a block that needs the shift (rare): row by row
                row_loss, hit = _row(logits[n], target[n], w * scale, grad[n])
            total += w * row_loss
            if hit:
                correct += w
    return total * scale, correct


@kernel
def softmax_cross_entropy_long_rows(logits, target, weight, ignore, use_ignore, grad, top):
    """:func:`softmax_cross_entropy` for rows of ``LONG_ROW`` or more into a ``grad`` that is
    not ``logits``, one row at a time: each row's exps written straight into its row of grad,
    summed and scaled there (softmax_long_rows' structure), the shift decided per row. The
    same arguments, results and limits; the loss is summed over the rows in order.

    ``top`` (int array of shape (N,)) is ``np.argmax(logits, axis=1)``, which the caller
    computes for the hits: NumPy's vectorised argmax, the row's first maximum or first NaN as
    :func:`_argmax`'s, took 8 us over 128 rows of 1,000 float32 where ``_argmax``'s scalar
    loop took 70-80 us, most of this kernel's time at such rows. ``grad`` does not overlap
    ``logits``: a shifted row (rare) reads x after its first exps were written."""
    scale = _mean_scale(target, weight, ignore, use_ignore, grad)
    if not scale > 0:  # -1: a target out of range, nothing written; 0: no weight, grad 0
        return 0.0, scale
    total = 0.0
    correct = 0.0
    for n in range(logits.shape[0]):
        if use_ignore and target[n] == ignore:
            grad[n] = 0
            continue
        w = weight[n] if weight.size else 1.0
        row_loss, mass = _long_row_loss(logits[n], target[n], grad[n])
        _grad_from_exps(grad[n], target[n], w * scale, mass)
        total += w * row_loss
        if top[n] == target[n]:
            correct += w
    return total * scale, correct


# called once per kernel call (both cross-entropy kernels' prologue)
@njit(error_model="numpy")
def _mean_scale(target, weight, ignore, use_ignore, grad):
    """1 / sum_n w_n over the rows (w_n = 1 without weights; rows whose target is ``ignore``,
    with ``use_ignore``, left out and not checked); -1.0 when a target is outside [0, C),
    with nothing written, and 0.0 when the weights sum to 0, with ``grad`` zeroed."""
    weight_sum = 0.0
    for n in range(target.size):
        if use_ignore and target[n] == ignore:
            continue
        if target[n] < 0 or target[n] >= grad.shape[1]:
            return -1.0
        weight_sum += weight[n] if weight.size else 1.0
    if not weight_sum > 0:
        grad[...] = 0
        return 0.0
    return 1.0 / weight_sum


@njit(inline="always")
def _row_unshifted(x, y, rw, e, r, mass, g):
    """:func:`_row` from the block's exps: row ``r`` of ``e`` holds exp(x) and ``mass`` its
    sum, which keeps them (:func:`_keeps_unshifted`). Reads x (argmax, x[y]) before g (which
    may be x) is written."""
    arg = _argmax(x)
    row_loss = math.log(mass) - np.float64(x[y])
    factor = g.dtype.type(rw / mass)
    offset = r * x.size
    for c in range(x.size):
        g[c] = e[offset + c] * factor
    g[y] = g[y] - g.dtype.type(rw)
    return row_loss, arg == y


@njit(inline="always")
def _row(x, y, rw, g):
    """(loss, argmax == y) of one row; writes rw * (softmax(x) - onehot(y)) into g (may be x)."""
    arg = _argmax(x)  # before g (which may be x) is written
    row_loss, mass = _exp_row(x, y, g, x[arg])
    _grad_from_exps(g, y, rw, mass)
    return row_loss, arg == y


@njit(inline="always")
def _grad_from_exps(g, y, rw, mass):
    """``g = rw * (g / mass - onehot(y))`` over a row of exps ``g`` that sum to ``mass``:
    the row's gradient, weighted. NaN throughout for a NaN row, whose g is NaN already."""
    factor = g.dtype.type(rw / mass)
    for c in range(g.size):
        g[c] = g[c] * factor
    g[y] = g[y] - g.dtype.type(rw)


@njit(inline="always")
def _long_row_loss(x, y, e):
    """(loss, S) of one long row (``LONG_ROW``), its exps written straight into ``e`` (a row of
    another array): unshifted where their sum keeps them (:func:`_keeps_unshifted`), else
    shifted by the row's maximum (:func:`_exp_row`, rare). Both per-row kernels of long rows
    take it: :func:`softmax_cross_entropy_long_rows` and :func:`softmax_cross_entropy_rows`."""
    mass = _exps_into(x, e)
    if _keeps_unshifted(mass):
        return math.log(mass) - np.float64(x[y]), mass
    row_loss, shifted = _exp_row(x, y, e, x[_argmax(x)])
    return row_loss, np.float64(shifted)


@njit(inline="always")
def _keeps_unshifted(total):
    """Whether exps taken without the max shift lose nothing, their sum lying in
    [1, ``UNSHIFTED_MAX``] (softgrad.kernels.softmax: no exp overflowed, one that underflowed
    is below the smallest normal number in the exact result too, and the sum fits float32, a
    scale over it stays a normal number and its log is at most 44.4). NaN fails both tests.
    With [1, inf), float32 rows whose float64 sum passed float32's range stored an infinite
    sum (a gradient of -onehot alone), and near it 1 / S was subnormal."""
    return (total >= 1.0) & (total <= UNSHIFTED_MAX)


@njit(inline="always")
def _argmax(x):
    """np.argmax of one row: the first maximum, and a NaN is the maximum (the first NaN).

    A branch on the comparison: after the first entries a new maximum is rare, so the branch
    is predicted. Branch-free selects (``m = v if take else m``) chained every entry to the
    last through the comparison, and on an AMD Zen 5 took 50.7 against 6.0 us over 1,280 rows
    of 10 float32 and 585 against 69 us over 128 rows of 1,000 (np.argmax: 7.4)."""
    m = x[0]
    if m != m:
        return 0
    arg = 0
    for c in range(1, x.size):
        v = x[c]
        if v > m:
            m = v
            arg = c
        elif v != v:  # the first NaN: nothing replaces it
            return c
    return arg


@kernel
def softmax_cross_entropy_rows(logits, target, e, total, loss, offsets):
    """Per-row losses, and what the gradient needs, in one pass (the seam's per-row API).

    Parameters
    ----------
    logits : ndarray of shape (N, C)
        C-contiguous float32 or float64.
    target : ndarray of int of shape (N,)
        Class indices, checked (the pass stops at the first one outside [0, C)).
    e : ndarray of shape (N, C)
        Written with exp(logits - m_n) (m_n = 0 in a block kept unshifted, module docstring),
        logits' dtype; not ``logits``.
    total : ndarray of shape (N,)
        Written with the row sums of e (rounded to the logits' dtype).
    loss : ndarray of float64 of shape (N,)
        Written with log(S_n) - (logits[n, y_n] - m_n), the module's edge cases.
    offsets : ndarray of intp of shape (N,)
        Written with the flat offsets n * C + y_n of the targets (the NumPy lane's cache).

    Returns
    -------
    bool
        False when a target is out of range (then nothing is meaningful).

    Notes
    -----
    The limits of the module docstring hold for ``e / total``: a +inf row gets e = 1 at its
    +inf entries and 0 elsewhere (total k), a NaN or all -inf row NaN throughout.
    """
    if not _targets_in_range(target, logits.shape[1]):
        return False
    n_classes = logits.shape[1]
    n_rows = logits.shape[0]
    if n_classes >= LONG_ROW:
        # long rows one at a time, their exps straight into their row of e (softmax_long_rows'
        # structure: F.cross_entropy_grad at 64 x 10,000 float32 ran this kernel in 436 us by
        # blocks, twice F.softmax's time), the shift decided per row; the same sums
        for n in range(n_rows):
            loss[n], total[n] = _long_row_loss(logits[n], target[n], e[n])
            offsets[n] = n * n_classes + target[n]
        return True
    rows = max(1, SOFTMAX_BLOCK // n_classes)  # the blocks of softmax_cross_entropy
    sums = np.empty(rows)
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        if _exp_block(logits, start, stop, e[start:stop].reshape(-1), sums):
            for n in range(start, stop):  # e holds exp(logits), unshifted
                loss[n] = math.log(sums[n - start]) - np.float64(logits[n, target[n]])
                total[n] = sums[n - start]
        else:
            for n in range(start, stop):
                row = logits[n]
                loss[n], total[n] = _exp_row(row, target[n], e[n], row[_argmax(row)])
        for n in range(start, stop):
            offsets[n] = n * n_classes + target[n]
    return True


@njit(inline="always")
def _targets_in_range(target, n_classes):
    for n in range(target.size):
        if target[n] < 0 or target[n] >= n_classes:
            return False
    return True


@njit(inline="always")
def _exp_row(x, y, e, m):
    """(loss, S) of one row whose maximum (np.max's: NaN if any) is ``m``; writes exp(x - m)
    (or the +inf limit's 0/1) into e (may be x: each entry is read before it is written, the
    target's first). The caller's argmax gives m, so a row is scanned for it once."""
    x_y = x[y]
    mass = _exp_shifted(x, e, m)
    if m != m or m == -np.inf:
        return np.nan, e.dtype.type(np.nan)
    if m == np.inf:
        return (math.log(mass) if x_y == np.inf else np.inf), e.dtype.type(mass)
    # (x_y - m) in the logits' dtype, as the NumPy lane: log(S) keeps its precision beside a
    # large shift, and a loss beyond the dtype's range overflows to inf as it does there
    return math.log(mass) - np.float64(x_y - m), e.dtype.type(mass)


# _exp_shifted and _exp_block are called, not inlined at Numba's level: each compiles once per
# process and the four kernels that use them link it (a first softgrad train compiled the two
# cross-entropy kernels in 2.8 s against 3.3 s with a copy in each; the same speed and bits)
@njit(error_model="numpy")
def _exp_shifted(x, e, m):
    """S = sum_c exp(x_c - m) in float64 for the row's maximum ``m``, writing exp(x - m) into
    e (may be x), or the limits: NaN throughout (S NaN) for a NaN or all -inf row; for a row
    holding +inf, 1 at its k +inf entries and 0 elsewhere (S = k)."""
    if m != m or m == -np.inf:
        for c in range(x.size):
            e[c] = np.nan
        return np.nan
    if m == np.inf:
        k = 0
        for c in range(x.size):
            hit = x[c] == np.inf
            e[c] = 1 if hit else 0
            k += hit
        return np.float64(k)
    # the exps in one loop (vectorised for float32: numba_math.exp), the sum in a second one,
    # in order (a float64 sum LLVM may not reorder, so the result is the same on every run)
    for c in range(x.size):
        e[c] = exp(x[c] - m)
    mass = 0.0
    for c in range(x.size):
        mass += e[c]
    return mass


@parallel_kernel
def softmax_rows(x, out, scale, n_shares):
    """``out[n] = scale * softmax(x[n])`` for each row.

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

    Notes
    -----
    The NumPy lane's two strategies (softgrad.kernels.softmax), decided per block of rows
    (``SOFTMAX_BLOCK`` elements, at least one row) instead of per call: exp(x) over the whole
    block in one flat loop (vectorised), the row sums S, and when every sum keeps them
    (:func:`_keeps_unshifted`) the result is ``scale * exp(x) / S``; otherwise each row of the
    block is shifted by its maximum m (:func:`_exp_shifted`), with the NumPy lane's limits: NaN
    throughout for a row holding NaN or only -inf; for the k +inf entries of a row 1/k and 0
    elsewhere. Flat passes let the CPU overlap the rows' short dependency chains, where one row at a
    time (max, exps, sum, scale) waited on each: softmax at 1024 x 10 float32, 10 us against 83 us
    row by row, and 47 us for the NumPy lane (22 us while each row's sum was a call of the
    vectorised sum: ``SHORT_ROW``).

    Each row depends on itself alone, so the split changes no bit. The body is the loop over
    the shares alone: below ``PARALLEL_MIN`` elements the calling-thread twin runs it
    (``parallel_kernel``), so it holds one copy of the block routine and its exps. With a
    second copy for a serial branch, and log_softmax's in the same kernel, a first softmax
    (an empty cache) compiled for 8.0 s. (The share loop is written out in both kernels: one
    inlined helper taking the routine as a constant compiled both routines, 2.9 s against
    1.8 s.)
    """
    n_rows, n_classes = x.shape
    rows = max(1, SOFTMAX_BLOCK // n_classes)
    n_blocks = (n_rows + rows - 1) // rows
    for share in prange(n_shares):
        e = np.empty(rows * n_classes, dtype=x.dtype)
        sums = np.empty(rows)
        for block in range(share * n_blocks // n_shares, (share + 1) * n_blocks // n_shares):
            _softmax_block(x, out, scale, block * rows, rows, e, sums)


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
    if _exp_block(x, start, stop, e, sums):
        for r in range(stop - start):
            factor = out.dtype.type(scale / sums[r])
            row = out[start + r]
            for c in range(n_classes):
                row[c] = e[r * n_classes + c] * factor
    else:
        for n in range(start, stop):
            row = x[n]
            mass = _exp_shifted(row, e[:n_classes], row[_argmax(row)])
            factor = out.dtype.type(scale / mass)  # NaN for a NaN row, whose e is NaN
            target = out[n]
            for c in range(n_classes):
                target[c] = e[c] * factor


@njit(error_model="numpy")  # called, not inlined: see _exp_shifted
def _exp_block(x, start, stop, e, sums):
    """exp(x) of rows start .. stop into the flat scratch ``e`` (one vectorised loop) and
    their row sums into ``sums``; whether every sum keeps its unshifted exps
    (:func:`_keeps_unshifted`)."""
    n_classes = x.shape[1]
    size = (stop - start) * n_classes
    flat = x[start:stop].reshape(size)
    for i in range(size):
        e[i] = exp(flat[i])
    direct = True
    for r in range(stop - start):
        total = _row_total(e, r * n_classes, (r + 1) * n_classes)
        sums[r] = total
        direct &= _keeps_unshifted(total)
    return direct


@njit(inline="always")
def _log_softmax_block(x, out, start, rows, e, sums):
    """The log_softmax of :func:`_softmax_block`'s rows (its scratch, the same order)."""
    stop = min(start + rows, x.shape[0])
    n_classes = x.shape[1]
    if _exp_block(x, start, stop, e, sums):
        for r in range(stop - start):
            _minus_log(x[start + r], out[start + r], sums[r])
        return
    for n in range(start, stop):
        _log_softmax_shifted_row(x[n], out[n], e[:n_classes])


# rows at least this long, into another array, go to the row-at-a-time kernels below
# (softmax_long_rows, log_softmax_long_rows), which write a row's exps straight into its row
# of out instead of a block's scratch. Measured on an AMD Zen 5 (F.softmax / F.log_softmax,
# float32, one thread, min of 3 alternating processes), blocks -> rows: 2.83 -> 1.52 ms and
# 2.70 -> 1.30 ms at 4096 x 1000, 364 -> 164 us and 370 -> 169 us at 64 x 10,000, 71 -> 54 us
# and 74 -> 61 us at 1024 x 100; at 1024 x 40 the blocks were faster (49 against 53 us)
LONG_ROW = 64


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
            mass = _exp_shifted(source, target, source[_argmax(source)])
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
    logits near 88), and the subtraction in float64 cost 15% at 64 x 10,000."""
    log_total = math.log(total)
    hi = target.dtype.type(log_total)
    lo = target.dtype.type(log_total - np.float64(hi))
    zero = target.dtype.type(0.0)
    for c in range(source.size):
        # at most 0, as a log-probability is (and the shifted path gives): exp(x) rounded
        # before the sum put a row's one dominant entry up to a rounding above 0
        value = (source[c] - hi) - lo
        target[c] = value if value < zero else zero


@njit(inline="always")
def _exps_into(source, target):
    """exp(source) into target (another row of its length); returns their float64 sum."""
    for c in range(source.size):
        target[c] = exp(source[c])
    return _row_sum(target, 0, source.size)


@njit(error_model="numpy")
def _log_softmax_shifted_row(source, target, scratch):
    """log_softmax of one row shifted by its maximum m, ``(x - m) - log(S)``, with the NumPy
    lane's limits: ``-log(k)`` at the k +inf entries of a row holding +inf and -inf elsewhere,
    NaN throughout for a row holding NaN or only -inf. ``scratch`` (a row's length) takes the
    exps: it may be ``target`` where target is not ``source``."""
    n_classes = source.size
    m = source[_argmax(source)]
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
        log_total = target.dtype.type(math.log(_exp_shifted(source, scratch, m)))
        for c in range(n_classes):
            target[c] = (source[c] - m) - log_total


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
            row = g[n]
            _softmax_vjp_row(s[n], row, row)
    else:
        for n in prange(s.shape[0]):
            _softmax_vjp_row(s[n], g[n], out[n])


@njit(inline="always")
def _softmax_vjp_row(s, g, out):
    dot = out.dtype.type(_row_dot(s, g))
    for c in range(s.size):
        out[c] = s[c] * (g[c] - dot)


# The two row reductions may be reassociated (fastmath "reassoc", on these functions alone: a
# kernel's exps and other arithmetic keep IEEE order), so that LLVM sums in vector registers:
# a float64 dot of 64 rows of 10,000 float32 took 403 us in eight hand-interleaved partial sums
# and 109 us so. The order is the compiled code's: the same bits on every run on one machine.
# They are not inlined at Numba's level, which would compile them under the caller's flags.
@njit(error_model="numpy", fastmath={"reassoc"})
def _row_dot(a, b):
    """sum(a * b) of two rows, accumulated in float64."""
    total = 0.0
    for c in range(a.size):
        total += np.float64(a[c]) * np.float64(b[c])
    return total


# rows shorter than this are summed in order, inline: a call of the vectorised sum per row cost
# more than the row's sum (softmax at 1024 x 10 float32: 23 against 9.4 us on an AMD Zen 5)
SHORT_ROW = 32


@njit(inline="always")
def _row_total(e, lo, hi):
    """sum(e[lo:hi]) in float64: in order for a row shorter than ``SHORT_ROW``, else
    :func:`_row_sum`'s vectorised sum."""
    if hi - lo >= SHORT_ROW:
        return _row_sum(e, lo, hi)
    total = 0.0
    for c in range(lo, hi):
        total += np.float64(e[c])
    return total


@njit(error_model="numpy", fastmath={"reassoc"})
def _row_sum(e, lo, hi):
    """sum(e[lo:hi]), accumulated in float64."""
    total = 0.0
    for c in range(lo, hi):
        total += np.float64(e[c])
    return total


@kernel
def softmax_cross_entropy_rows_grad(e, total, offsets, scale, out):
    """``out = r_n * (e / S - onehot(y))`` in one pass; ``out`` may be ``e``.

    Parameters
    ----------
    e : ndarray of shape (N, C)
    total : ndarray of shape (N,)
        Row sums of e (from :func:`softmax_cross_entropy_rows`).
    offsets : ndarray of int of shape (N,)
        Flat offsets n * C + y_n of the targets (from :func:`softmax_cross_entropy_rows`).
    scale : ndarray of shape (N,) or (1,)
        r_n per row, or one r for every row; e's dtype.
    out : ndarray of shape (N, C)
    """
    per_row = scale.size > 1
    n_classes = e.shape[1]
    for n in range(e.shape[0]):
        r = scale[n] if per_row else scale[0]
        factor = r / total[n]
        for c in range(n_classes):
            out[n, c] = e[n, c] * factor
        y = offsets[n] - n * n_classes
        out[n, y] = out[n, y] - r

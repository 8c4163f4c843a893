"""Numba: the row routines that the softmax kernels (:mod:`softgrad.kernels.numba_softmax`) and
the fused softmax-cross-entropy kernels (:mod:`softgrad.kernels.numba_losses`) share: the exps
of a block of rows or of one row and their sums, whether those sums keep the exps unshifted,
and a row's argmax.

Both families normalise rows the same way, so this is where that way is written once; the
kernels above it differ in what they make of the exps (probabilities, log-probabilities, a
loss and its gradient). Nothing here is a kernel: these are Numba functions the kernels inline
or link (each one's decorator says which), compiled into the kernel that calls them.

As in the NumPy lane (softgrad.kernels.softmax), the shift is skipped where it changes nothing:
the rows go in blocks (``SOFTMAX_BLOCK`` elements), whose exps are taken unshifted in one flat
loop, and kept when every row sum of the block lies in [1, ``UNSHIFTED_MAX``] (2**64, the NumPy
lane's bound: what is computed from S, 1 / S, r / S, log(S), stays as accurate as the shifted
formula's); a block that fails the check is shifted, each row by its maximum, its exps again in
one flat loop (:func:`_exp_block_shifted`). The flat loops run 8 float32 lanes wide (the exp of
numba_math), where a row of 10 at a time waited on its own chain of max, exps and sum: the
training step's softmax-cross-entropy (128 x 10 float32) 13 -> 7.6 us, softmax (1024 x 10) 83 ->
22 us. Rows of ``LONG_ROW`` or more into another array go one at a time instead, each row's
exps written straight into its row of the output (:func:`_exps_into`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

from softgrad.kernels.numba_math import exp, holds_nonfinite
from softgrad.kernels.softmax import RATIO_MIN, UNSHIFTED_MAX

__all__ = ["LONG_ROW", "SHORT_ROW", "SOFTMAX_BLOCK"]


# elements per block of softmax_rows and log_softmax_rows (whole rows, at least one), and of the
# cross-entropy kernels: its exps stay in L1 (32 KB) between the passes
SOFTMAX_BLOCK = 2048


# rows at least this long, into another array, go to the row-at-a-time kernels
# (numba_softmax.softmax_long_rows, log_softmax_long_rows; the cross-entropy's alike), which
# write a row's exps straight into its row of out instead of a block's scratch. Measured on an
# AMD Zen 5 (F.softmax / F.log_softmax, float32, one thread, min of 3 alternating processes),
# blocks -> rows: 2.83 -> 1.52 ms and 2.70 -> 1.30 ms at 4096 x 1000, 364 -> 164 us and
# 370 -> 169 us at 64 x 10,000, 71 -> 54 us and 74 -> 61 us at 1024 x 100; at 1024 x 40 the
# blocks were faster (49 against 53 us)
LONG_ROW = 64


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
def _ratio_loss(mass, e_y, x_y):
    """The cross-entropy of a row whose exps were kept unshifted, from their float64 sum
    ``mass``, the target's exp ``e_y`` and its logit ``x_y``: log(mass / e_y) in float64 (the
    NumPy lane's softgrad.kernels.softmax.ratio_loss: the rounding of exp(x_y) cancels, and the
    loss is never below 0), or log(mass) - x_y for an exp below ``RATIO_MIN``. In float64 the
    ratio keeps a float32 row's small loss to a float64 rounding of 1 (2.06e-9 for [20, 0]);
    log1p((mass - e_y) / e_y) kept it relative to itself at 1 us more a 128 x 10 step."""
    e = np.float64(e_y)
    if e >= RATIO_MIN:
        return math.log(mass / e)
    return math.log(mass) - np.float64(x_y)


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
    # by blocks (_row_sum: the same on every run; summed in order, a float64 row of 100,000
    # entries was 1,080 roundings off)
    for c in range(x.size):
        e[c] = exp(x[c] - m)
    return _row_sum(e, 0, x.size)


@njit(error_model="numpy")  # called, not inlined: see _exp_shifted
def _exp_block(x, start, stop, e, sums):
    """exp(x) of rows start .. stop into the flat scratch ``e`` (one vectorised loop) and
    their row sums into ``sums``; whether every sum keeps its unshifted exps
    (:func:`_keeps_unshifted`). False at once, nothing written, where :func:`_surely_beyond`
    can tell."""
    n_classes = x.shape[1]
    size = (stop - start) * n_classes
    flat = x[start:stop].reshape(size)
    if _surely_beyond(flat):  # the block will not keep its exps: none taken
        return False
    for i in range(size):
        e[i] = exp(flat[i])
    direct = True
    for r in range(stop - start):
        total = _row_total(e, r * n_classes, (r + 1) * n_classes)
        sums[r] = total
        direct &= _keeps_unshifted(total)
    return direct


@njit(error_model="numpy")  # called, not inlined: see _exp_shifted
def _exp_block_shifted(x, start, stop, e, sums):
    """:func:`_exp_block` for a block whose sums do not keep their exps: exp(x - m_n) of rows
    start .. stop into ``e``, each row shifted by its maximum m_n, and their sums into
    ``sums``, with :func:`_exp_shifted`'s limits (NaN throughout for a NaN or all -inf row,
    1 at the k +inf entries of a row holding +inf and 0 elsewhere). Returns the shifts, one
    per entry of the block (row r's maximum at ``r * C``).

    The exps in one flat loop over the block, as the unshifted ones: row by row, the 10
    entries of a training row were each an exp of their own (a vector of 16 float32 lanes
    left empty), and every row called :func:`_exp_shifted` and its sum, a block of large
    logits (a network's, on unscaled inputs) taking 4-6x an ordinary block's time. The
    rows are summed as the unshifted block's (:func:`_row_total`)."""
    n_classes = x.shape[1]
    shift = _shifted_exps(x, start, stop, e)
    for r in range(stop - start):
        lo = r * n_classes
        m = shift[lo]
        if m - m == 0:  # a finite maximum
            sums[r] = _row_total(e, lo, lo + n_classes)
        else:  # NaN or +-inf: the limits
            sums[r] = _exp_shifted(x[start + r], e[lo : lo + n_classes], m)
    return shift


@njit(inline="always")
def _shifted_exps(x, start, stop, e):
    """exp(x - m_n) of rows start .. stop into the flat scratch ``e``, m_n each row's maximum
    (np.max's, by :func:`_argmax`: NaN for a row holding NaN), in one flat loop over the
    block; returns the shifts, one per entry of the block (row r's maximum at ``r * C``)."""
    n_classes = x.shape[1]
    size = (stop - start) * n_classes
    shift = np.empty(size, dtype=x.dtype)
    for r in range(stop - start):
        row = x[start + r]
        m = row[_argmax(row)]
        for c in range(r * n_classes, (r + 1) * n_classes):
            shift[c] = m
    flat = x[start:stop].reshape(size)
    for i in range(size):
        e[i] = exp(flat[i] - shift[i])
    return shift


@njit(inline="always")
def _row_max(x):
    """np.max of a long row (the shifted rows of ``LONG_ROW`` or more): NaN if it holds one.

    A row of finite numbers (:func:`~softgrad.kernels.numba_math.holds_nonfinite`, a
    vectorised test) goes to :func:`_max_without_nan`, any other to :func:`_argmax`: the
    same value but for a tie of -0.0 and 0.0, which a shifted row cannot hold (a row whose
    maximum is 0 sums to between 1 and C, and keeps its exps unshifted)."""
    if holds_nonfinite(x):
        return x[_argmax(x)]
    return _max_without_nan(x)


@njit(error_model="numpy")
def _max_without_nan(x):
    """The largest entry of a row that holds no NaN (+-inf included; a NaN other than the first
    entry is passed over, as no running maximum takes it), in eight running maxima the CPU takes
    side by side (LLVM packs them in one vector register). One running maximum chained every
    entry to the last through its comparison, as :func:`_argmax` does: over 512 rows of
    1,000 float32, 308 against 78 us, a third of a shifted softmax's time."""
    n = x.size
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = x[0]
    i = 0
    while i + 8 <= n:
        m0, m1, m2, m3 = (
            _larger(x[i], m0),
            _larger(x[i + 1], m1),
            _larger(x[i + 2], m2),
            _larger(x[i + 3], m3),
        )
        m4, m5, m6, m7 = (
            _larger(x[i + 4], m4),
            _larger(x[i + 5], m5),
            _larger(x[i + 6], m6),
            _larger(x[i + 7], m7),
        )
        i += 8
    for c in range(i, n):
        m0 = _larger(x[c], m0)
    m0, m2, m4, m6 = _larger(m1, m0), _larger(m3, m2), _larger(m5, m4), _larger(m7, m6)
    return _larger(_larger(m6, m4), _larger(m2, m0))


@njit(inline="always")
def _larger(v, m):
    """v if it is larger than m, else m (a NaN v does not replace m)."""
    return v if v > m else m


@njit(inline="always")
def _exps_into(source, target):
    """exp(source) into target (another row of its length); returns their float64 sum, or
    inf, writing nothing, where :func:`_surely_beyond` says the sum cannot keep them: asked of
    rows of ``PEEK_ROW_MIN`` entries or more alone (its 64 entries cost a row of 100 a third
    more, 320 against 435-459 us at 4096 x 100, for a tenth saved on large logits)."""
    if source.size >= PEEK_ROW_MIN and _surely_beyond(source):
        return np.inf
    for c in range(source.size):
        target[c] = exp(source[c])
    return _row_sum(target, 0, source.size)


# An entry this large has an exp beyond UNSHIFTED_MAX (2**64 = e**44.36) on its own, by 15%: far
# beyond any rounding, so the sum of a row (or block) holding one cannot keep its exps unshifted
SURELY_BEYOND = 44.5
# how many leading entries of a block or a long row _surely_beyond reads, and the shortest row
# it is asked of (a block of rows always: SOFTMAX_BLOCK entries)
PEEK = 64
PEEK_ROW_MIN = 1024


@njit(inline="always")
def _surely_beyond(flat):
    """Whether one of the first ``PEEK`` entries of ``flat`` is at least ``SURELY_BEYOND``:
    then a block's unshifted exps would be taken only to be thrown away. The same decision as
    their sums' (exact: the same bits), made before the pass: a block of large logits (N(0, 30))
    took a wasted pass of exps before the shifted one (softmax at 4096 x 10: 282-308 -> 184
    us); reading 64 entries costs an ordinary block of 2,048 nothing measurable. In eight
    running maxima (:func:`_max_without_nan`): one chained the 64 comparisons."""
    return _max_without_nan(flat[: min(flat.size, PEEK)]) >= SURELY_BEYOND


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


# The two row reductions of float64 rows are taken a block of SUM_BLOCK entries at a time,
# each block reassociated (fastmath "reassoc", on the block functions alone: a kernel's exps
# and other arithmetic keep IEEE order), so that LLVM sums it in vector registers (a float64
# dot of 64 rows of 10,000 float32 took 403 us in eight hand-interleaved partial sums and 109
# us so), and the blocks' sums added with Neumaier's compensation, in IEEE order. One
# reassociated loop over a whole row summed each vector lane's share in one running sum, an
# error that grew with the row: a float64 row of 100,000 entries summed its softmax to 1 +- 134
# roundings (4,070 at a million), where NumPy's pairwise sum keeps 4; blocks keep each running
# sum short, and the compensation adds them as if exactly. Rows of float32 and short rows are
# one block: float32's sums are float64, far within its rounding (blocks cost 20% on a 1024 x
# 1000 VJP). A block's loop counts in unsigned integers: a signed index from a bound given at
# run time may be negative, for all LLVM knows, and Numba's wraparound of negative indices kept
# it scalar (1000-entry rows from entry 4: 532 against 75 us over 1024 rows; the block path's
# rows of 32 to 63 classes, summed from offsets, took twice the time in a softmax so).
# The loops are called, not inlined by Numba, which would compile them under the caller's
# flags; the row functions that choose are inlined. The order is the compiled code's: the same
# bits on every run on one machine.
SUM_BLOCK = 256


@njit(error_model="numpy", fastmath={"reassoc"})
def _block_dot(a, b, lo, hi):
    """sum(a[lo:hi] * b[lo:hi]) in float64, reassociated (vector registers)."""
    total = 0.0
    for c in range(uint64(lo), uint64(hi)):
        total += np.float64(a[c]) * np.float64(b[c])
    return total


@njit(error_model="numpy", fastmath={"reassoc"})
def _block_sum(e, lo, hi):
    """sum(e[lo:hi]) in float64, reassociated (vector registers)."""
    total = 0.0
    for c in range(uint64(lo), uint64(hi)):
        total += np.float64(e[c])
    return total


@njit(error_model="numpy", fastmath={"reassoc"})
def _dot_in_one(a, b):
    """sum(a * b) of two rows in one reassociated float64 loop: a row of at most
    ``SUM_BLOCK``, or of float32 (whose float64 running sums are far within its rounding).
    Not ``_block_dot(a, b, 0, n)``: called so from the softmax VJP's rows, 4096 x 10 took 119
    against 26 us (whole rows need no bounds; the sums' blocks do)."""
    total = 0.0
    for c in range(a.size):
        total += np.float64(a[c]) * np.float64(b[c])
    return total


@njit(error_model="numpy")
def _long_dot(a, b):
    """:func:`_row_dot` of a float64 row longer than ``SUM_BLOCK``."""
    n = a.size
    total = 0.0
    lost = 0.0
    for lo in range(0, n, SUM_BLOCK):
        part = _block_dot(a, b, lo, min(lo + SUM_BLOCK, n))
        total, lost = _add_compensated(total, lost, part)
    return total + lost


@njit(error_model="numpy", fastmath={"reassoc"})
def _block_sum_kept(a, logp, lo, hi):
    """sum(a[lo:hi]) over the entries whose ``logp`` is not -inf, in float64, reassociated."""
    total = 0.0
    for c in range(uint64(lo), uint64(hi)):
        total += np.float64(a[c]) if logp[c] != -np.inf else 0.0
    return total


@njit(error_model="numpy")
def _kept_sum(a, logp):
    """sum(a) over the entries of a row whose ``logp`` is not -inf (a masked log_softmax's
    cotangent), accumulated in float64 as :func:`_row_sum` accumulates a row."""
    if a.size <= SUM_BLOCK or a.itemsize < 8:
        return _block_sum_kept(a, logp, 0, a.size)
    return _long_sum(a, 0, a.size, logp)


@njit(error_model="numpy")
def _long_sum(e, lo, hi, logp=None):
    """:func:`_row_sum` of more than ``SUM_BLOCK`` float64 entries; with ``logp``, of those
    whose logp is not -inf (:func:`_kept_sum`)."""
    total = 0.0
    lost = 0.0
    for start in range(lo, hi, SUM_BLOCK):
        stop = min(start + SUM_BLOCK, hi)
        if logp is None:
            part = _block_sum(e, start, stop)
        else:
            part = _block_sum_kept(e, logp, start, stop)
        total, lost = _add_compensated(total, lost, part)
    return total + lost


@njit(inline="always")
def _row_dot(a, b):
    """sum(a * b) of two rows, accumulated in float64 a block at a time (above)."""
    if a.size <= SUM_BLOCK or a.itemsize < 8:
        return _dot_in_one(a, b)
    return _long_dot(a, b)


@njit(inline="always")
def _row_sum(e, lo, hi):
    """sum(e[lo:hi]), accumulated in float64 a block at a time (above)."""
    if hi - lo <= SUM_BLOCK or e.itemsize < 8:
        return _block_sum(e, lo, hi)
    return _long_sum(e, lo, hi)


@njit(inline="always")
def _add_compensated(total, lost, part):
    """Neumaier's step: ``total + part``, and what rounding it lost added to ``lost``; nothing
    where the sum is not finite (an infinite block gave inf - inf, a NaN for an inf sum)."""
    new = total + part
    if not math.isfinite(new):
        return new, lost
    if abs(total) >= abs(part):
        lost += (total - new) + part
    else:
        lost += (part - new) + total
    return new, lost

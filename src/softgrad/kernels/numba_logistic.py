"""Numba kernels: sigmoid cross-entropy on logits (the NumPy lane's
:mod:`softgrad.kernels.logistic`): the loss with its softplus in one call, the gradient in one
pass.

The same formulas, in the same order, with :mod:`softgrad.kernels.numba_math`'s exp and log1p,
which LLVM vectorises::

    softplus(z) = max(z, 0) + log1p(exp(-|z|))        (np.logaddexp(0, z)'s own formula)
    l_n         = sum_k softplus(z_nk) - t_nk z_nk     (accumulated in float64)
    dl/dz       = exp(z - softplus(z)) - t

Both lanes took softplus as ``np.logaddexp(0, z)``, which calls the C library's exp and log1p
once per element: 6.5 ms of a 7.4 ms loss-and-gradient at 4096 x 100 float32, 6.6x PyTorch's
``binary_cross_entropy_with_logits`` with its backward on one core (the NumPy lane now composes
NumPy's vectorised ufuncs). The values agree with the NumPy lane's within a few roundings
(exp and log1p are each within 1 ulp of the correctly rounded function); the limits are
``np.logaddexp``'s: softplus(+inf) = inf, softplus(-inf) = 0, NaN for NaN.

The loss takes blocks of whole rows of about ``SOFTMAX_BLOCK`` elements (in L1), as the
softmax kernels do: the block's softplus in one flat loop, vectorised across short rows (a
loop per row of 10 ran its exps and logs one at a time: 14.3 against 5.4 us at 128 x 10), then
each row's sum while the block is in cache (the NumPy lane makes about nine passes over the
whole array). A row's sum is float64, in an order LLVM chooses for vector registers (the same on
every run on one machine), float64 rows of more than ``SUM_BLOCK`` terms a block at a time
with compensation, as the softmax kernels' sums; the NumPy lane sums in the dtype, pairwise.
A gradient of fewer than ``GRAD_MIN`` elements keeps the NumPy lane's three passes: the
kernel's call and the checks of four arrays cost 5-6 us, those passes 1-5 us there (float32
level at 8,192 x 1, the kernel 1.3x faster at 32,768 x 1; float64 level at 32,768), and
NumPy's own exp is vectorised. Each element depends on itself alone (a row's loss on its row),
so nothing depends on how the threads split the work; the loops run on them from
``PARALLEL_MIN`` elements.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from softgrad.kernels.logistic import LogisticKernels
from softgrad.kernels.numba_exp_rows import SOFTMAX_BLOCK, SUM_BLOCK, _add_compensated
from softgrad.kernels.numba_layout import _same_flat_layout, _same_or_apart, _writes_into
from softgrad.kernels.numba_math import exp, log1p
from softgrad.kernels.numba_threads import parallel_kernel

__all__ = [
    "GRAD_MIN",
    "NumbaLogisticKernels",
    "logistic_grad",
    "logistic_losses",
    "softplus_kernel",
]

# below this many elements the gradient takes the NumPy lane's three vectorised passes (NumPy's
# own exp), which the kernel's call and its checks of four arrays cost more than (module
# docstring)
GRAD_MIN = 1 << 15


@parallel_kernel
def softplus_kernel(z, out):
    """``out = log(1 + exp(z))`` of flat (1-d) arrays of one dtype; ``out`` may be ``z``."""
    zero = z.dtype.type(0)
    for i in prange(z.size):
        out[i] = _softplus(z[i], zero)


@njit(inline="always")
def _softplus(x, zero):
    """log(1 + exp(x)) of one float, ``zero`` 0 in its type: ``np.logaddexp(0, x)``'s formula
    (NaN: 0 + NaN)."""
    return (x if x > zero else zero) + log1p(exp(-abs(x)))


@parallel_kernel
def logistic_grad(z, t, softplus_z, out):
    """``out = exp(z - softplus_z) - t`` (sigmoid(z) - t) of flat arrays of one dtype; ``out``
    may be any of them."""
    for i in prange(z.size):
        out[i] = exp(z[i] - softplus_z[i]) - t[i]


@parallel_kernel
def logistic_losses(z, t, softplus_z, out):
    """``softplus_z = softplus(z)`` and ``out[n] = sum_k softplus_z[n, k] - t[n, k] z[n, k]``
    of (N, K) arrays of one dtype, ``out`` (N,) of that dtype, by blocks of whole rows of about
    ``SOFTMAX_BLOCK`` elements: the block's softplus in one flat loop (vectorised across its
    rows), then each row's sum in float64 while the block is in cache (module docstring)."""
    n_rows, width = z.shape
    zero = z.dtype.type(0)
    flat_z, flat_t, flat_s = z.reshape(-1), t.reshape(-1), softplus_z.reshape(-1)
    per_block = max(1, SOFTMAX_BLOCK // width)
    for block in prange((n_rows + per_block - 1) // per_block):
        first = block * per_block
        last = min(first + per_block, n_rows)
        for i in range(uint64(first * width), uint64(last * width)):
            flat_s[i] = _softplus(flat_z[i], zero)
        if width == 1:  # a row's loss is its term: a flat loop too
            for n in range(uint64(first), uint64(last)):
                out[n] = _term(flat_s[n], flat_t[n], flat_z[n])
            continue
        for n in range(first, last):
            out[n] = _row_terms(flat_s, flat_t, flat_z, n * width, (n + 1) * width)


@njit(inline="always")
def _row_terms(s, t, z, lo, hi):
    """sum(s - t * z) over [lo, hi) of flat arrays in float64: one reassociated loop, or for
    float64 rows longer than ``SUM_BLOCK`` blocks of it added with compensation (module
    docstring)."""
    if z.itemsize < 8 or hi - lo <= SUM_BLOCK:
        return _block_terms(s, t, z, lo, hi)
    total = 0.0
    lost = 0.0
    for start in range(lo, hi, SUM_BLOCK):
        part = _block_terms(s, t, z, start, min(start + SUM_BLOCK, hi))
        total, lost = _add_compensated(total, lost, part)
    return total + lost


@njit(error_model="numpy", fastmath={"reassoc"})
def _block_terms(s, t, z, lo, hi):
    """sum(s - t * z) over [lo, hi) of three rows in float64, the sum reassociated (vector
    registers), each term in IEEE order (:func:`_term`, called: its flags stay its own)."""
    total = 0.0
    for c in range(uint64(lo), uint64(hi)):
        total += _term(s[c], t[c], z[c])
    return total


@njit(error_model="numpy")
def _term(s, t, z):
    return np.float64(s) - np.float64(t) * np.float64(z)


class NumbaLogisticKernels(LogisticKernels):
    """NumbaOps mixin: softplus, sigmoid cross-entropy and its gradient, one pass each.

    Arrays other than C-contiguous native float32/float64 of one dtype and shape (and ``out``
    writeable, the same memory as an input or apart from it) go to the NumPy lane, as every
    NumbaOps method sends them (softgrad.kernels.numba_layout)."""

    def softplus(self, logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """log(1 + exp(z)) elementwise, without overflow (the NumPy lane's method, in one
        vectorised pass: module docstring).

        Examples
        --------
        >>> NumbaLogisticKernels().softplus(np.array([[0.0, 2.0]]))  # log 2, log(1 + e^2)
        array([[0.69314718, 2.12692801]])
        >>> NumbaLogisticKernels().softplus(np.array([1000.0, -1000.0]))  # no overflow
        array([1000.,    0.])
        """
        if out is None and _same_flat_layout(logits) and logits.ndim:
            out = np.empty_like(logits)
        if not (logits.ndim and out is not None and _writes_into(logits, out)):
            return super().softplus(logits, out=out)
        softplus_kernel(logits.reshape(-1), out.reshape(-1))
        return out

    def sigmoid_cross_entropy(
        self, logits: np.ndarray, target: np.ndarray, softplus_out: np.ndarray
    ) -> np.ndarray:
        """Per-sample loss ``sum_k softplus(z_ik) - t_ik * z_ik``, shape (N,), with
        ``softplus(logits)`` written into ``softplus_out``: one pass, a row's softplus and
        then its sum in float64 (module docstring); the NumPy lane's method otherwise.

        Examples
        --------
        >>> ops, softplus = NumbaLogisticKernels(), np.empty((2, 1))
        >>> z, t = np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]])
        >>> ops.sigmoid_cross_entropy(z, t, softplus)  # log 2, log(1 + e^2)
        array([0.69314718, 2.12692801])
        """
        if not (
            logits.ndim == 2
            and logits.shape[1]
            and _same_flat_layout(logits, target, softplus_out)
            and softplus_out.flags.writeable
            and not np.may_share_memory(softplus_out, logits)
            and not np.may_share_memory(softplus_out, target)
        ):
            return super().sigmoid_cross_entropy(logits, target, softplus_out)
        out = np.empty(len(logits), dtype=logits.dtype)
        logistic_losses(logits, target, softplus_out, out)
        return out

    def sigmoid_cross_entropy_grad(
        self, logits: np.ndarray, target: np.ndarray, softplus: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """dl/dz = sigmoid(z) - t, written into ``out``; returns ``out``: one pass from
        ``GRAD_MIN`` elements, the NumPy lane's three below (module docstring).

        Examples
        --------
        >>> ops = NumbaLogisticKernels()
        >>> z, t = np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]])
        >>> ops.sigmoid_cross_entropy_grad(z, t, ops.softplus(z), np.empty((2, 1)))
        array([[-0.5       ],
               [ 0.88079708]])
        """
        if not (
            logits.size >= GRAD_MIN
            and _writes_into(logits, out)
            and _same_flat_layout(logits, target, softplus)
            and _same_or_apart(target, out)
            and _same_or_apart(softplus, out)
        ):
            return super().sigmoid_cross_entropy_grad(logits, target, softplus, out)
        flat = out.reshape(-1)
        logistic_grad(logits.reshape(-1), target.reshape(-1), softplus.reshape(-1), flat)
        return out

"""Numba kernels: bias plus activation after a product, and the activation backward.

Each is one pass: ``y = f(y + b)`` in place on the product's output, and
``grad_x = grad_y * f'(y)`` from the cached *output* (the NumPy lane's formulas, in its order)::

    identity    y = x                   f'(y) = 1
    relu        y = max(x, 0)           f'(y) = (y > 0)
    tanh        t = tanh(x)             f'(t) = 1 - t*t
    logistic    s = 1 / (1 + e^-x)      f'(s) = (1 - s) * s

The logistic is evaluated as the NumPy lane does it, without overflow: ``e = exp(-|x|)``,
``s = e / (1 + e)`` for x < 0 and ``1 - e / (1 + e)`` for x >= 0. NaN and signed zeros go as
in NumPy (``max(NaN, 0)`` is NaN, ``max(-0.0, 0)`` is 0.0; the ReLU backward of a NaN output
is ``grad * 0``). The activation is an integer code (``ACTIVATIONS`` maps the names to it),
and each has its own compiled kernels (``BIAS_ACTIVATION``, ``ACTIVATION_BACKWARD``), so a
network compiles only the code of the activations it uses.
Loops run on Numba's threads from ``PARALLEL_MIN`` elements for tanh and the logistic (an exp
or a tanh per element), from ``CHEAP_PARALLEL_MIN`` for the bias add and ReLU and for every
backward (a few arithmetic operations per element, where waking the threads costs more than
the pass: at the training step's 128 x 100 the bias + ReLU took 7.8 us on the calling thread
against 189 us through the thread pool on a loaded 2-core machine, 128 x 256: 19 us against
50 us). Every element depends on itself alone, so results do not depend on the split.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from softgrad.kernels.numba_math import exp, holds_nonfinite, tanh
from softgrad.kernels.numba_threads import PARALLEL_MIN, parallel_kernel

# below this many elements a pass of a few arithmetic operations per element (bias add, ReLU,
# the backwards) stays on the calling thread (module docstring)
CHEAP_PARALLEL_MIN = 8 * PARALLEL_MIN

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_BACKWARD",
    "BIAS_ACTIVATION",
    "activation_backward",
    "bias_activation",
    "bias_kernel",
]

IDENTITY, RELU, TANH, LOGISTIC = 0, 1, 2, 3
# activation name -> kernel code (softgrad's "sigmoid" is scikit-learn's "logistic")
ACTIVATIONS = {
    "identity": IDENTITY,
    "relu": RELU,
    "tanh": TANH,
    "sigmoid": LOGISTIC,
    "logistic": LOGISTIC,
}


def bias_activation(y, b, kind, check=False):
    """``y[n, h] = f(y[n, h] + b[h])`` in place: the kernel :func:`bias_kernel` gives.

    Parameters
    ----------
    y : ndarray of shape (N, H)
        C-contiguous; the product ``x @ W``.
    b : ndarray of shape (H,) or (0,)
        The bias in y's dtype; an empty array adds none.
    kind : int
        A value of ``ACTIVATIONS``.
    check : bool, default False
        Also count the rows of y that held a NaN or an infinity before the pass.

    Returns
    -------
    int
        With ``check``, the number of rows of y that held a NaN or an infinity (read in the
        same pass, before the bias: inference's check of the first product, see
        ``NumbaOps.bias_activation_finite``); 0 without.
    """
    return bias_kernel(kind, y.dtype)(y, b, check)


def bias_kernel(kind, dtype):
    """The bias + activation kernel of an activation code for a dtype: ``BIAS_ACTIVATION``'s,
    but for a float64 tanh :func:`bias_tanh_float64` (the one choice for the lane's calls and
    its bound ones, which give the same bits)."""
    if kind == TANH and dtype == np.float64:
        return bias_tanh_float64
    return BIAS_ACTIVATION[kind]


def bias_tanh_float64(y, b, check):
    """``y = tanh(y + b)`` in place for float64: the identity kernel's bias add (and its check
    of the rows), then NumPy's ``np.tanh``. Numba code has only the C library's tanh, one call
    per element (up to 2 ulps, where np.tanh keeps 1): 6.2 ms at 4096 x 100 against 0.7."""
    bad = bias_identity(y, b, check)
    np.tanh(y, out=y)
    return bad


# One compiled kernel per activation, the kind a constant in each: a first `softgrad train`
# compiles the one its network uses, with no code for the others (the ReLU's tanh and
# exp never compile), and LLVM optimises each calling-thread twin as well as the threaded
# compile. One kernel taking the kind as an argument compiled in 3.2 s (empty cache) and ran
# 128 x 100 float32 bias + ReLU in 2.4 us on its threaded compile (its serial twin was slower,
# 3.4 us); the ReLU kernel, its prange loop alone (parallel_kernel), compiles in 0.5 s and its
# twin runs it in 2.1 us.
@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)
def bias_identity(y, b, check):
    """``y = y + b`` in place (:func:`bias_activation`, identity)."""
    return _bias_rows(y, b, IDENTITY, check)


@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)
def bias_relu(y, b, check):
    """``y = max(y + b, 0)`` in place (:func:`bias_activation`, ReLU)."""
    return _bias_rows(y, b, RELU, check)


@parallel_kernel
def bias_tanh(y, b, check):
    """``y = tanh(y + b)`` in place (:func:`bias_activation`, tanh)."""
    return _bias_rows(y, b, TANH, check)


@parallel_kernel
def bias_logistic(y, b, check):
    """``y = 1 / (1 + exp(-(y + b)))`` in place (:func:`bias_activation`, the logistic)."""
    return _bias_rows(y, b, LOGISTIC, check)


# activation code (ACTIVATIONS' values) -> its bias + activation kernel
BIAS_ACTIVATION = (bias_identity, bias_relu, bias_tanh, bias_logistic)


@njit(inline="always")
def _bias_rows(y, b, kind, check):
    """The loop over the rows of every bias + activation kernel, ``kind`` a constant: on the
    threads in the threaded compile, which runs from PARALLEL_MIN elements for tanh and the
    logistic and from CHEAP_PARALLEL_MIN for the identity and ReLU (their kernels'
    ``parallel_min``), on the calling thread in the serial twin below that. With ``check``,
    returns how many rows held a NaN or an infinity before the pass (an integer sum: the
    same for any split of the rows), else 0."""
    bad = 0
    for n in prange(y.shape[0]):
        row = y[n]
        if check:
            bad += holds_nonfinite(row)
        _bias_activation_row(row, b, kind)
    return bad


# A flag, not a second family of kernels: the training step passes False and pays one branch
# a row; inference's check (a separate pass over a (1024, 100) product just written by the
# BLAS) took 100-160 us a batch on a 2-core Zen 1, this test of each row in cache 12 us a batch.


@njit(inline="always")
def _bias_activation_row(row, b, kind):
    # constants in the row's dtype: a bare 1 is an int64 to Numba and would make a float32
    # expression compute in float64
    one = row.dtype.type(1)
    zero = row.dtype.type(0)
    # one loop for a bias and one for none, each a select without a store under a branch, so
    # LLVM vectorises it (128 x 100 float32 bias + ReLU: 1.4 us against 7.7 us for
    # `if y <= 0: y = 0`). A loop reading `b[h] if has_bias` stayed scalar: without a bias,
    # tanh took 130 us and the logistic 93 us at 128 x 100, against 26 and 19 with one
    if b.size == 0:
        # ReLU's + 0 keeps the store from being one LLVM turns into a masked store (8.5 against
        # 2.3 us): exact, since ReLU gives +0.0 for -0.0 either way (and not for the others:
        # tanh(-0.0) is -0.0)
        for h in range(row.size):
            row[h] = _activation(row[h] + zero if kind == RELU else row[h], kind, one, zero)
    else:
        for h in range(row.size):
            row[h] = _activation(row[h] + b[h], kind, one, zero)


@njit(inline="always")
def _activation(x, kind, one, zero):
    """f(x) for the activation ``kind`` (a constant: the other branches fold away)."""
    if kind == RELU:
        return _relu(x, zero)
    if kind == TANH:
        return tanh(x)  # float32: numba_math's, vectorisable
    if kind == LOGISTIC:
        return _logistic(x, one, zero)
    return x


@njit(inline="always")
def _relu(x, zero):
    return zero if x <= zero else x  # as NumPy's maximum(x, 0): NaN stays NaN


@njit(inline="always")
def _logistic(x, one, zero):
    e = exp(-np.abs(x))  # float32: the vectorisable exp (numba_math)
    s = e / (e + one)
    return one - s if x >= zero else s


def activation_backward(y, grad_y, kind, out):
    """``out = grad_y * f'(y)``, ``f'`` taken from the output ``y``: the kernel of
    ``ACTIVATION_BACKWARD[kind]``.

    Parameters
    ----------
    y, grad_y, out : ndarray of shape (P,)
        C-contiguous, one dtype (a ``ravel()`` view of an (N, H) array); ``out`` may be
        ``grad_y`` (in place), and must not otherwise overlap the inputs.
    kind : int
        A value of ``ACTIVATIONS``.
    """
    ACTIVATION_BACKWARD[kind](y, grad_y, out)


# one kernel per activation, as the bias + activation kernels (BIAS_ACTIVATION)
@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)
def identity_backward(y, grad_y, out):
    """``out = grad_y`` (:func:`activation_backward`, identity)."""
    _backward(y, grad_y, IDENTITY, out)


@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)
def relu_backward(y, grad_y, out):
    """``out = grad_y * (y > 0)`` (:func:`activation_backward`, ReLU)."""
    _backward(y, grad_y, RELU, out)


@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)
def tanh_backward(y, grad_y, out):
    """``out = grad_y * (1 - y * y)`` (:func:`activation_backward`, tanh)."""
    _backward(y, grad_y, TANH, out)


@parallel_kernel(parallel_min=CHEAP_PARALLEL_MIN)
def logistic_backward(y, grad_y, out):
    """``out = grad_y * (1 - y) * y`` (:func:`activation_backward`, the logistic)."""
    _backward(y, grad_y, LOGISTIC, out)


# activation code (ACTIVATIONS' values) -> its backward kernel
ACTIVATION_BACKWARD = (identity_backward, relu_backward, tanh_backward, logistic_backward)


@njit(inline="always")
def _backward(y, grad_y, kind, out):
    """The body of every backward kernel, ``kind`` a constant; on the threads from
    CHEAP_PARALLEL_MIN elements (the kernels' ``parallel_min``), else the serial twin."""
    one = y.dtype.type(1)  # see _bias_activation_row
    # an in-place call (out is grad_y) reads and writes one array: its loop is then free of an
    # aliasing doubt, and LLVM vectorises it (128 x 100 float32 ReLU in place: 1.6 us against
    # 6.7 us)
    if out.ctypes.data == grad_y.ctypes.data:
        for i in prange(y.size):
            out[i] = out[i] * _derivative(y[i], kind, one)
    else:
        for i in prange(y.size):
            out[i] = grad_y[i] * _derivative(y[i], kind, one)


@njit(inline="always")
def _derivative(y, kind, one):
    if kind == RELU:
        return one if y > 0 else one - one  # a product, as NumPy's: inf * 0 is NaN
    if kind == TANH:
        return one - y * y
    if kind == LOGISTIC:
        return (one - y) * y
    return one

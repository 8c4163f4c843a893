"""Numba kernels: optimizer updates on flat buffers, each ONE fused loop over the parameters.

The NumPy lane makes one pass per operation (Adam: twelve); here every element is loaded once,
updated in registers and stored once. The loop runs on Numba's threads (``prange``) when the
buffer holds at least ``PARALLEL_MIN`` elements, and on the calling thread below that, where
waking the threads costs more than the loop. Each element's update depends on that element
alone, so the result does not depend on how the threads split the loop: bit-identical run to
run.

The scalars arrive in the parameters' dtype (the caller casts them), so a float32 update
computes in float32 as the NumPy lane does with its Python-float scalars; the operations are
the NumPy lane's, in its order, so the two lanes agree to a rounding or two (the NumPy lane's
BLAS axpy may fuse a multiply and an add). Non-finite values propagate elementwise as in
NumPy. Every array is C-contiguous and 1-d (a flat store, or a ``ravel()`` view); ``param``,
``grad`` and the state must not overlap.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from softgrad.kernels.numba_threads import parallel_kernel

__all__ = ["SGD_RULES", "adam", "adam_direction", "sgd_rule"]


def sgd_rule(momentum, nesterov, lr_in_velocity):
    """The index in ``SGD_RULES`` of the kernel for these settings (``momentum`` the scalar of
    param's dtype the kernel gets: one that rounds to 0 is none).

    Each kernel, ``kernel(param, grad, buf, lr, momentum, weight_decay, first)`` on arrays of
    shape (P,) (``param`` and ``buf`` updated; the scalars of param's dtype), makes SGD's
    update in one pass: ``g = grad + weight_decay * W``, then torch's rule::

        b = g (first step) or momentum * b + g
        W -= lr * (g + momentum * b)    (nesterov)
        W -= lr * b                     (otherwise)

    or, with ``lr_in_velocity``, scikit-learn's (the velocity starts at zero)::

        v = momentum * v - lr * g
        W += momentum * v - lr * g      (nesterov)
        W += v                          (otherwise)

    and ``W -= lr * g`` when ``momentum`` is 0 (``buf`` is not touched).
    """
    if momentum == 0:
        return PLAIN
    if lr_in_velocity:
        return VELOCITY_NESTEROV if nesterov else VELOCITY
    return MOMENTUM_NESTEROV if nesterov else MOMENTUM


# One kernel per rule, the rule a constant in each (as numba_activations' one kernel per
# activation): its loop branches on nothing but the weight decay and the first step, and LLVM
# optimises the calling-thread twin as well as the threaded compile. One kernel branching on
# every setting compiled in 1.2 s, and its serial twin ran torch's momentum rule on 80k
# float32 in 1,846 us (20 us with its body a prange loop alone) against 16 us on the threaded
# compile, which it therefore kept for every call; the momentum kernel compiles in 0.25 s and
# its twin runs it in 15.5 us.
PLAIN, MOMENTUM, MOMENTUM_NESTEROV, VELOCITY, VELOCITY_NESTEROV = range(5)


@parallel_kernel
def sgd_plain(param, grad, buf, lr, momentum, weight_decay, first):
    """``W -= lr * g`` (:func:`sgd_rule`: momentum 0; ``buf`` untouched)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, PLAIN, first, i)


@parallel_kernel
def sgd_momentum(param, grad, buf, lr, momentum, weight_decay, first):
    """torch's momentum rule (:func:`sgd_rule`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, MOMENTUM, first, i)


@parallel_kernel
def sgd_momentum_nesterov(param, grad, buf, lr, momentum, weight_decay, first):
    """torch's Nesterov rule (:func:`sgd_rule`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, MOMENTUM_NESTEROV, first, i)


@parallel_kernel
def sgd_velocity(param, grad, buf, lr, momentum, weight_decay, first):
    """scikit-learn's momentum rule, the lr in the velocity (:func:`sgd_rule`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, VELOCITY, first, i)


@parallel_kernel
def sgd_velocity_nesterov(param, grad, buf, lr, momentum, weight_decay, first):
    """scikit-learn's Nesterov rule (:func:`sgd_rule`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, VELOCITY_NESTEROV, first, i)


# rule (PLAIN ... VELOCITY_NESTEROV) -> its kernel; below PARALLEL_MIN parameters the
# calling-thread twin runs its prange loop (parallel_kernel)
SGD_RULES = (sgd_plain, sgd_momentum, sgd_momentum_nesterov, sgd_velocity, sgd_velocity_nesterov)


@njit(inline="always")
def _sgd_one(param, grad, buf, lr, momentum, weight_decay, rule, first, i):
    g = grad[i]
    if weight_decay != 0:
        g = param[i] * weight_decay + g
    if rule == PLAIN:
        param[i] = param[i] + (-lr) * g
    elif rule == VELOCITY or rule == VELOCITY_NESTEROV:
        v = buf[i] * momentum + (-lr) * g
        buf[i] = v
        if rule == VELOCITY_NESTEROV:
            param[i] = param[i] + momentum * v + (-lr) * g
        else:
            param[i] = param[i] + v
    else:
        b = g if first else buf[i] * momentum + g
        buf[i] = b
        if rule == MOMENTUM_NESTEROV:
            param[i] = param[i] + (-lr) * g + (-lr * momentum) * b
        else:
            param[i] = param[i] + (-lr) * b


@parallel_kernel
def adam(
    param, grad, m, v, beta1, beta2, rate1, rate2, step_size, root, eps, weight_decay, shrink, tiny
):
    """Adam in one pass, on torch's moments (``exp_avg``, ``exp_avg_sq``)::

        g = grad + weight_decay * W     (torch's Adam: L2 decay in the gradient)
        m = beta1 * m + rate1 * g                 (rate1 = 1 - beta1)
        v = beta2 * v + (rate2 * g) * g           (rate2 = 1 - beta2)
        m, v = 0 where |m|, v < tiny              (subnormal moments: below)
        W = shrink * W - step_size * m / (sqrt(v) * root + eps)

    A moment whose magnitude falls below ``tiny``, the dtype's smallest normal number, is
    stored as 0. A parameter that stops receiving gradient (an input pixel that is always
    dark in a batch) has its m decay by beta1 each step, through the subnormal range for some
    150 steps before it reaches 0, and every operation on a subnormal takes the CPU's slow
    path: with 4% of m subnormal, this update over 80k float32 took 61.6 us against 25.8
    (Zen 4), and in ``fit`` (h100 b128, Fashion-MNIST) about 3,000 of the 79,510 moments were
    subnormal from the second epoch on. What the flush changes: the step such a moment makes,
    ``step_size * m / (sqrt(v) * root + eps)``, is below ``step_size * tiny / eps``; with
    torch's defaults (lr 1e-3, eps 1e-8) under 1.2e-32 in float32, less than half a rounding of
    any parameter larger than 2e-25. The caller passes ``tiny`` 0 (no flush) when eps is 0,
    where a flushed v would divide by zero, or so small that a flushed v would change the step
    (:func:`softgrad.kernels.numba_bound.flush_floor`). NaN and inf are kept (the comparisons
    are false for NaN).

    ``step_size`` and ``root`` carry the bias corrections (torch's rule, or scikit-learn's
    with the corrections in the step size and ``root`` 1: the caller computes them once per
    step, softgrad.kernels.updates.adam_scalars); ``shrink = 1 - lr * weight_decay`` is
    AdamW's decoupled decay (1 otherwise).

    Parameters
    ----------
    param, grad, m, v : ndarray of shape (P,)
        Parameters (updated), gradient, moments (updated).
    beta1, beta2, rate1, rate2, step_size, root, eps, weight_decay, shrink, tiny : float
        scalars of param's dtype; ``rate1 = 1 - beta1`` and ``rate2 = 1 - beta2`` computed in
        float64 by the caller, as the NumPy lane's Python floats are; ``tiny`` the dtype's
        smallest normal number (``np.finfo(dtype).tiny``), or 0 for no flush
    """
    # below PARALLEL_MIN the calling-thread twin runs these prange loops (parallel_kernel)
    if weight_decay == 0 and shrink == 1:
        # plain Adam in a loop free of per-element branches, which LLVM vectorises: 30 us
        # against 223 us for the general loop on 80k float32 here; the same operations in
        # the same order, so the same bits
        for i in prange(param.size):
            mi, vi = _moments(grad[i], m, v, beta1, beta2, rate1, rate2, tiny, i)
            param[i] = param[i] + (-step_size) * _direction(mi, vi, root, eps)
    else:
        for i in prange(param.size):
            w = param[i]
            g = grad[i]
            if weight_decay != 0:
                g = w * weight_decay + g
            mi, vi = _moments(g, m, v, beta1, beta2, rate1, rate2, tiny, i)
            if shrink != 1:
                w = w * shrink
            param[i] = w + (-step_size) * _direction(mi, vi, root, eps)


@njit(inline="always")
def _moments(g, m, v, beta1, beta2, rate1, rate2, tiny, i):
    """Element i's moments updated with its gradient ``g``, subnormal ones stored as 0
    (:func:`adam`): (m, v). The flush is a select, which keeps the loop vectorised."""
    mi = m[i] * beta1 + g * rate1
    vi = v[i] * beta2 + (g * rate2) * g
    if np.abs(mi) < tiny:
        mi = tiny - tiny
    if vi < tiny:
        vi = tiny - tiny
    m[i] = mi
    v[i] = vi
    return mi, vi


@njit(inline="always")
def _direction(mi, vi, root, eps):
    """Adam's direction ``m / (sqrt(v) * root + eps)`` of one element, for :func:`adam` and
    :func:`adam_direction` alike."""
    return mi / (np.sqrt(vi) * root + eps)


@parallel_kernel
def adam_direction(
    direction, param, grad, m, v, beta1, beta2, rate1, rate2, root, eps, weight_decay, tiny
):
    """:func:`adam` without its last move: the moments updated as there, and the direction
    ``m / (sqrt(v) * root + eps)`` written to ``direction`` (the parameters only read, for
    the L2 decay), for a caller that moves the parameters with a BLAS axpy on the BLAS's
    threads (softgrad.kernels.numba_bound: why). The same operations in the same order as
    :func:`adam` (subnormal moments stored as 0 likewise), so the same moments bit for bit and
    the same direction. ``direction`` must not overlap the other arrays."""
    if weight_decay == 0:  # branch-free, so that LLVM vectorises it (adam)
        for i in prange(direction.size):
            mi, vi = _moments(grad[i], m, v, beta1, beta2, rate1, rate2, tiny, i)
            direction[i] = _direction(mi, vi, root, eps)
    else:
        for i in prange(direction.size):
            g = param[i] * weight_decay + grad[i]
            mi, vi = _moments(g, m, v, beta1, beta2, rate1, rate2, tiny, i)
            direction[i] = _direction(mi, vi, root, eps)

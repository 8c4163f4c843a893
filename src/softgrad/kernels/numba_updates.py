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

__all__ = ["SGD_RULES", "adam", "sgd", "sgd_rule"]


def sgd(param, grad, buf, lr, momentum, weight_decay, nesterov, lr_in_velocity, first):
    """SGD in one pass: ``g = grad + weight_decay * W``, then torch's rule::

        b = g (first step) or momentum * b + g
        W -= lr * (g + momentum * b)    (nesterov)
        W -= lr * b                     (otherwise)

    or, with ``lr_in_velocity``, scikit-learn's (the velocity starts at zero)::

        v = momentum * v - lr * g
        W += momentum * v - lr * g      (nesterov)
        W += v                          (otherwise)

    and ``W -= lr * g`` when ``momentum`` is 0 (``buf`` is not touched). Runs the kernel of
    the rule (``SGD_RULES``).

    Parameters
    ----------
    param, grad, buf : ndarray of shape (P,)
        Parameters (updated), gradient, momentum buffer or velocity (updated).
    lr, momentum, weight_decay : float scalars of param's dtype
    nesterov, lr_in_velocity, first : bool
    """
    SGD_RULES[sgd_rule(momentum, nesterov, lr_in_velocity)](
        param, grad, buf, lr, momentum, weight_decay, first
    )


def sgd_rule(momentum, nesterov, lr_in_velocity):
    """The index in ``SGD_RULES`` of the kernel :func:`sgd` runs for these settings
    (``momentum`` the scalar of param's dtype the kernel gets: one that rounds to 0 is none)."""
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
    """``W -= lr * g`` (:func:`sgd` with momentum 0; ``buf`` untouched)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, PLAIN, first, i)


@parallel_kernel
def sgd_momentum(param, grad, buf, lr, momentum, weight_decay, first):
    """torch's momentum rule (:func:`sgd`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, MOMENTUM, first, i)


@parallel_kernel
def sgd_momentum_nesterov(param, grad, buf, lr, momentum, weight_decay, first):
    """torch's Nesterov rule (:func:`sgd`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, MOMENTUM_NESTEROV, first, i)


@parallel_kernel
def sgd_velocity(param, grad, buf, lr, momentum, weight_decay, first):
    """scikit-learn's momentum rule, the lr in the velocity (:func:`sgd`)."""
    for i in prange(param.size):
        _sgd_one(param, grad, buf, lr, momentum, weight_decay, VELOCITY, first, i)


@parallel_kernel
def sgd_velocity_nesterov(param, grad, buf, lr, momentum, weight_decay, first):
    """scikit-learn's Nesterov rule (:func:`sgd`)."""
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
def adam(param, grad, m, v, beta1, beta2, rate1, rate2, step_size, root, eps, weight_decay, shrink):
    """Adam in one pass, on torch's moments (``exp_avg``, ``exp_avg_sq``)::

        g = grad + weight_decay * W     (torch's Adam: L2 decay in the gradient)
        m = beta1 * m + rate1 * g                 (rate1 = 1 - beta1)
        v = beta2 * v + (rate2 * g) * g           (rate2 = 1 - beta2)
        W = shrink * W - step_size * m / (sqrt(v) * root + eps)

    ``step_size`` and ``root`` carry the bias corrections (torch's rule, or scikit-learn's
    with the corrections in the step size and ``root`` 1: the caller computes them once per
    step, softgrad.kernels.updates.adam_scalars); ``shrink = 1 - lr * weight_decay`` is
    AdamW's decoupled decay (1 otherwise).

    Parameters
    ----------
    param, grad, m, v : ndarray of shape (P,)
        Parameters (updated), gradient, moments (updated).
    beta1, beta2, rate1, rate2, step_size, root, eps, weight_decay, shrink : float scalars
        of param's dtype; ``rate1 = 1 - beta1`` and ``rate2 = 1 - beta2`` computed in
        float64 by the caller, as the NumPy lane's Python floats are
    """
    # below PARALLEL_MIN the calling-thread twin runs these prange loops (parallel_kernel)
    if weight_decay == 0 and shrink == 1:
        # plain Adam in a loop free of per-element branches, which LLVM vectorises: 30 us
        # against 223 us for the general loop on 80k float32 here; the same operations in
        # the same order, so the same bits
        for i in prange(param.size):
            _adam_plain_one(param, grad, m, v, beta1, beta2, rate1, rate2, step_size, root, eps, i)
    else:
        for i in prange(param.size):
            _adam_one(
                param, grad, m, v, beta1, beta2, rate1, rate2, step_size, root, eps,
                weight_decay, shrink, i,
            )  # fmt: skip


@njit(inline="always")
def _adam_plain_one(param, grad, m, v, beta1, beta2, rate1, rate2, step_size, root, eps, i):
    g = grad[i]
    mi = m[i] * beta1 + g * rate1
    vi = v[i] * beta2 + (g * rate2) * g
    m[i] = mi
    v[i] = vi
    param[i] = param[i] + (-step_size) * (mi / (np.sqrt(vi) * root + eps))


@njit(inline="always")
def _adam_one(
    param, grad, m, v, beta1, beta2, rate1, rate2, step_size, root, eps, weight_decay, shrink, i
):
    g = grad[i]
    if weight_decay != 0:
        g = param[i] * weight_decay + g
    mi = m[i] * beta1 + g * rate1
    vi = v[i] * beta2 + (g * rate2) * g
    m[i] = mi
    v[i] = vi
    w = param[i]
    if shrink != 1:
        w = w * shrink
    param[i] = w + (-step_size) * (mi / (np.sqrt(vi) * root + eps))

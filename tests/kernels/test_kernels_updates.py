"""UpdateKernels: each update against its textbook formula, flat buffer against per-array."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softgrad.kernels import get_ops

# every test on both lanes: the Numba lane, the default, has its own sgd_update and adam_update,
# and get_ops() alone never reached the NumPy lane's UpdateKernels
pytestmark = pytest.mark.usefixtures("kernel_lane")

N_STEPS = 12
# float64; the kernels fold Adam's bias corrections into two scalars, so each step rounds a
# few more times than the textbook form
ATOL = 64 * N_STEPS * np.finfo(np.float64).eps


def _sgd_textbook(w, grads, rates, momentum, nesterov, weight_decay, lr_in_velocity):
    b = np.zeros_like(w)
    for t, (g, lr) in enumerate(zip(grads, rates, strict=True), start=1):
        g = g + weight_decay * w
        if lr_in_velocity:  # scikit-learn's SGDOptimizer
            b = momentum * b - lr * g
            w = w + (momentum * b - lr * g if nesterov else b)
        else:  # torch.optim.SGD
            b = g if t == 1 else momentum * b + g
            step = g if momentum == 0 else (g + momentum * b if nesterov else b)
            w = w - lr * step
    return w


def _adam_textbook(w, grads, rates, beta1, beta2, eps, weight_decay, decoupled, fold):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, (g, lr) in enumerate(zip(grads, rates, strict=True), start=1):
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        if fold:  # scikit-learn's AdamOptimizer
            lr_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
            w = w - lr_t * m / (np.sqrt(v) + eps)
        else:  # torch.optim.Adam / AdamW
            w = w - lr / (1 - beta1**t) * m / (np.sqrt(v) / math.sqrt(1 - beta2**t) + eps)
    return w


def _problem(rng, size=50):
    w = rng.standard_normal(size)
    grads = [rng.standard_normal(size) for _ in range(N_STEPS)]
    rates = [0.1 / (1 + t) ** 0.5 for t in range(N_STEPS)]  # lr changes between steps
    return w, grads, rates


@pytest.mark.parametrize(
    ("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)], ids=["plain", "m", "n"]
)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("lr_in_velocity", [False, True], ids=["torch", "sklearn"])
def test_sgd_update_is_its_formula(momentum, nesterov, weight_decay, lr_in_velocity, rng):
    w0, grads, rates = _problem(rng)
    w, b, scratch = w0.copy(), np.zeros_like(w0), [np.empty_like(w0) for _ in range(2)]
    for t, (g, lr) in enumerate(zip(grads, rates, strict=True), start=1):
        get_ops().sgd_update(
            w,
            g,
            b if momentum else None,
            scratch,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            lr_in_velocity=lr_in_velocity,
            first_step=t == 1,
        )
    expected = _sgd_textbook(w0, grads, rates, momentum, nesterov, weight_decay, lr_in_velocity)
    np.testing.assert_allclose(w, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize(
    ("weight_decay", "decoupled"), [(0.0, False), (0.1, False), (0.1, True)], ids=["-", "l2", "w"]
)
@pytest.mark.parametrize("fold", [False, True], ids=["torch", "sklearn"])
@pytest.mark.parametrize("eps", [1e-8, 1e-2])
def test_adam_update_is_its_formula(weight_decay, decoupled, fold, eps, rng):
    w0, grads, rates = _problem(rng)
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    scratch = [np.empty_like(w0) for _ in range(2)]
    for t, (g, lr) in enumerate(zip(grads, rates, strict=True), start=1):
        get_ops().adam_update(
            w,
            g,
            m,
            v,
            scratch,
            lr=lr,
            beta1=0.9,
            beta2=0.999,
            eps=eps,
            weight_decay=weight_decay,
            decoupled=decoupled,
            fold_bias_correction=fold,
            step=t,
        )
    expected = _adam_textbook(w0, grads, rates, 0.9, 0.999, eps, weight_decay, decoupled, fold)
    np.testing.assert_allclose(w, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("kernel", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_call_on_the_flat_buffer_is_the_calls_on_its_pieces(kernel, dtype, rng):
    # the same elementwise ufuncs on each element: the same path, so the same bits
    sizes = [35, 7, 21, 3]
    w0 = rng.standard_normal(sum(sizes)).astype(dtype)
    g = rng.standard_normal(sum(sizes)).astype(dtype)
    results = []
    for pieces in ([slice(0, sum(sizes))], np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1])):
        w, s1, s2 = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
        for step in (1, 2, 3):
            for piece in pieces:
                sl = piece if isinstance(piece, slice) else slice(piece[0], piece[-1] + 1)
                scratch = [np.empty_like(w[sl]) for _ in range(2)]
                if kernel == "sgd":
                    get_ops().sgd_update(
                        w[sl], g[sl], s1[sl], scratch, lr=0.1, momentum=0.9, nesterov=True,
                        weight_decay=0.01, lr_in_velocity=False, first_step=step == 1,
                    )  # fmt: skip
                else:
                    get_ops().adam_update(
                        w[sl], g[sl], s1[sl], s2[sl], scratch, lr=0.01, beta1=0.9, beta2=0.99,
                        eps=1e-8, weight_decay=0.01, decoupled=False, fold_bias_correction=False,
                        step=step,
                    )  # fmt: skip
        results.append(w)
    assert results[0].dtype == dtype
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_first_sgd_step_sets_the_buffer_to_the_gradient_whatever_it_held(nesterov, dtype, rng):
    # torch's b = g on a parameter's first step: a buffer holding anything else (here a stale
    # 7, as a restored state of step 0 can) takes no part in it
    lr, momentum = 0.1, 0.9
    w0 = rng.standard_normal(40).astype(dtype)
    g = rng.standard_normal(40).astype(dtype)
    w, b = w0.copy(), np.full_like(w0, 7.0)
    get_ops().sgd_update(
        w, g, b, [np.empty_like(w0)], lr=lr, momentum=momentum, nesterov=nesterov,
        weight_decay=0.0, lr_in_velocity=False, first_step=True,
    )  # fmt: skip
    w64, g64 = w0.astype(np.float64), g.astype(np.float64)
    expected_w = w64 - lr * (g64 + momentum * g64 if nesterov else g64)
    tol = 4 * np.finfo(dtype).eps * max(1.0, float(np.max(np.abs(expected_w))))
    assert np.array_equal(b, g), f"buffer: expected the gradient {g[:3]}, got {b[:3]}"
    err = np.abs(w - expected_w)
    worst = int(np.argmax(err))
    assert err[worst] <= tol, (
        f"weights: expected {expected_w[worst]!r}, got {w[worst]!r} at index {worst} "
        f"(error {err[worst]:.3g} > {tol:.3g})"
    )

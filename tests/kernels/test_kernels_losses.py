"""The softmax-cross-entropy kernel pair: the loss keeps what the gradient needs; sklearn's
weighted-mean objective on top of them."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import get_ops

INF = np.inf
TOL = {np.float32: 1e-5, np.float64: 1e-13}


def _reference(logits, target):
    # float64: loss_n = logsumexp(x_n) - x[n, y_n]; grad = softmax - onehot
    x = np.asarray(logits, np.float64)
    m = x.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(1))
    s = np.exp(x - lse[:, None])
    onehot = np.eye(x.shape[1])[target]
    return lse - x[np.arange(len(x)), target], s - onehot


@pytest.fixture
def ops(kernel_lane):
    # each lane: the Numba lane, the default, has its own losses, and get_ops() alone never
    # reached the NumPy lane's
    return get_ops()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, -300.0])  # -300: every sum < 1, the shifted strategy
def test_loss_and_grad_of_class_indices(ops, rng, dtype, offset):
    logits = (rng.normal(size=(32, 10)) * 3 + offset).astype(dtype)
    target = rng.integers(0, 10, 32)
    loss, cache = ops.softmax_cross_entropy(logits, target, np.empty_like(logits))
    expected_loss, expected_grad = _reference(logits, target)
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss, expected_loss, rtol=TOL[dtype], atol=TOL[dtype])
    grad = ops.softmax_cross_entropy_grad(cache, 0.5)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, 0.5 * expected_grad, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distribution_targets_are_the_same_formula(ops, rng, dtype):
    # one-hot distributions give the class-index loss and gradient; row weights fold in
    logits = rng.normal(size=(8, 5)).astype(dtype)
    target = rng.integers(0, 5, 8)
    w = rng.random(8).astype(dtype)
    onehot = (np.eye(5, dtype=dtype)[target]) * w[:, None]
    loss_i, cache_i = ops.softmax_cross_entropy(logits, target, np.empty_like(logits))
    loss_d, cache_d = ops.softmax_cross_entropy(logits, onehot, np.empty_like(logits))
    np.testing.assert_allclose(loss_d, loss_i * w, rtol=TOL[dtype])
    for scale in (1.0, 0.25):  # 0.25: a mean's 1 / N, scaling the target term too
        grad_i = ops.softmax_cross_entropy_grad(cache_i, scale * w[:, None])
        grad_d = ops.softmax_cross_entropy_grad(cache_d, scale)
        np.testing.assert_allclose(grad_d, grad_i, rtol=TOL[dtype], atol=TOL[dtype])


def test_grad_into_e_itself(ops, rng):
    logits = rng.normal(size=(6, 4))
    target = rng.integers(0, 4, 6)
    e = np.empty_like(logits)
    _, cache = ops.softmax_cross_entropy(logits, target, e)
    expected = ops.softmax_cross_entropy_grad(cache, 1.0)
    assert ops.softmax_cross_entropy_grad(cache, 1.0, out=e) is e
    np.testing.assert_array_equal(e, expected)


def test_non_finite_rows(ops):
    logits = np.array([[INF, 0.0, INF], [np.nan, 0.0, 1.0], [-INF] * 3, [0.0, -INF, 0.0]])
    target = np.array([0, 1, 2, 0])
    with np.errstate(
        over="raise", divide="raise", invalid="raise"
    ):  # the kernels silence exactly what they document
        loss, cache = ops.softmax_cross_entropy(logits, target, np.empty_like(logits))
        grad = ops.softmax_cross_entropy_grad(cache, 1.0)
    assert loss[0] == np.log(2.0)  # k = 2 +inf logits share the mass
    assert np.isnan(loss[1]) and np.isnan(loss[2])
    assert loss[3] == np.log(2.0)  # a -inf logit is a mask
    np.testing.assert_array_equal(grad[0], [-0.5, 0.0, 0.5])
    assert np.all(np.isnan(grad[1])) and np.all(np.isnan(grad[2]))
    np.testing.assert_array_equal(grad[3], [-0.5, 0.0, 0.5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_mean_is_sklearns_objective(ops, rng, dtype):
    # sum_n w_n loss_n / sum_n w_n, and its gradient w_n / sum(w) * (s_n - onehot)
    logits = rng.normal(size=(16, 3)).astype(dtype)
    target = rng.integers(0, 3, 16)
    w = rng.random(16)
    expected_loss, expected_grad = _reference(logits, target)
    grad = np.empty_like(logits)
    value = ops.softmax_cross_entropy_mean(logits, target, grad, sample_weight=w)
    assert value == pytest.approx(w @ expected_loss / w.sum(), rel=TOL[dtype])
    np.testing.assert_allclose(
        grad, expected_grad * (w / w.sum())[:, None], rtol=TOL[dtype], atol=TOL[dtype]
    )
    # unweighted: the plain mean; the gradient may overwrite the logits
    plain = logits.copy()
    value = ops.softmax_cross_entropy_mean(plain, target, plain)
    assert value == pytest.approx(expected_loss.mean(), rel=TOL[dtype])
    np.testing.assert_allclose(plain, expected_grad / 16, rtol=TOL[dtype], atol=TOL[dtype])


def test_zero_total_weight_gives_zero_loss_and_gradient(ops):
    logits = np.ones((2, 3))
    grad = np.full_like(logits, 7.0)
    assert ops.softmax_cross_entropy_mean(logits, np.array([0, 1]), grad, np.zeros(2)) == 0.0
    np.testing.assert_array_equal(grad, 0.0)

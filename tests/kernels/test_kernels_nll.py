"""The negative-log-likelihood kernel pair (softgrad.kernels.nll): the closed form, PyTorch's
nll_loss as the oracle, and the two callers (functional.nll_loss, nn.NLLLoss) on the same path."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.functional import log_softmax, nll_loss, nll_loss_grad
from softgrad.kernels import get_ops
from softgrad.nn import NLLLoss

DTYPES = [np.float32, np.float64]


@pytest.fixture
def ops():
    return get_ops()


def test_the_closed_form_by_hand(ops):
    logp = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]))
    target = np.array([0, 1, 2])
    # loss_n = -w_n * logp[n, y_n]: -log(0.5), -2 * log(0.6), -0.5 * log(0.6)
    weight = np.array([1.0, 2.0, 0.5])
    expected = np.array([np.log(2.0), -2.0 * np.log(0.6), -0.5 * np.log(0.6)])
    np.testing.assert_allclose(ops.nll_loss(logp, target, weight), expected, rtol=1e-15)
    np.testing.assert_allclose(ops.nll_loss(logp, target), -np.log([0.5, 0.6, 0.6]), rtol=1e-15)
    # grad[n, y_n] = -r * w_n, 0 elsewhere; r = 1 / sum(w) = 1 / 3.5 for a mean
    grad = ops.nll_loss_grad(target, weight, 1 / 3.5, np.full((3, 3), np.nan))
    np.testing.assert_allclose(grad, -np.diag(weight) / 3.5, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_rows_against_the_onehot_formula(ops, rng, dtype):
    # float64 reference: loss_n = -w_n * sum_c onehot[n, c] * logp[n, c]
    logp = log_softmax(rng.normal(size=(64, 10)) * 3).astype(dtype)
    target = rng.integers(0, 10, 64)
    weight = rng.uniform(0.5, 2.0, 64).astype(dtype)
    onehot = np.eye(10)[target]
    reference = -weight.astype(np.float64) * np.sum(onehot * logp.astype(np.float64), axis=1)
    loss = ops.nll_loss(logp, target, weight)
    assert loss.dtype == dtype
    # one product, rounded once in the dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(loss, reference, rtol=eps, atol=0)
    grad = ops.nll_loss_grad(target, weight, 0.25, np.empty_like(logp))
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, (-0.25 * weight.astype(np.float64))[:, None] * onehot)


def test_an_ignored_row_is_exactly_zero_and_a_kept_zero_weight_row_is_nan(ops):
    logp = np.array([[-np.inf, 0.0], [-np.inf, 0.0], [np.nan, 0.0]])
    target = np.array([0, 0, 0])
    valid = np.array([False, True, False])
    weight = np.array([0.0, 0.0, 0.0])
    loss = ops.nll_loss(logp, target, weight, valid)
    assert loss[0] == 0.0 and loss[2] == 0.0  # ignored: 0 whatever logp holds
    assert np.isnan(loss[1])  # kept, weight 0, logp -inf: 0 * inf, as torch
    grad = ops.nll_loss_grad(target, weight, 1.0, np.empty((3, 2)))
    assert not np.signbit(grad).any()  # +0.0, never -0.0, at a zero-weight target


def test_an_empty_batch(ops):
    target = np.zeros(0, dtype=np.intp)
    assert ops.nll_loss(np.zeros((0, 3)), target).shape == (0,)
    assert ops.nll_loss_grad(target, None, 1.0, np.empty((0, 3))).shape == (0, 3)


@pytest.mark.oracle
@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-14), (np.float32, 1e-6)])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_torch_nll_loss_is_the_oracle(ops, rng, dtype, rtol, ignore_index):
    torch = pytest.importorskip("torch")
    logp = log_softmax(rng.normal(size=(40, 5)) * 2).astype(dtype)
    target = rng.integers(0, 5, 40)
    class_weight = rng.uniform(0.5, 2.0, 5).astype(dtype)
    valid = None if ignore_index is None else target != ignore_index
    row_weight = class_weight[target] if valid is None else class_weight[target] * valid
    logp_t = torch.tensor(logp, requires_grad=True)
    per_row = torch.nn.functional.nll_loss(
        logp_t,
        torch.tensor(target),
        weight=torch.tensor(class_weight),
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction="none",
    )
    per_row.sum().backward()
    loss = ops.nll_loss(logp, target, row_weight, valid)
    np.testing.assert_allclose(loss, per_row.detach().numpy(), rtol=rtol, atol=0)
    grad = ops.nll_loss_grad(target, row_weight, 1.0, np.empty_like(logp))
    np.testing.assert_allclose(grad, logp_t.grad.numpy(), rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"weight": [1.0, 2.0, 0.5, 1.5]}, {"ignore_index": 2}])
def test_the_layer_and_the_functional_take_the_same_path(rng, dtype, reduction, options):
    # NLLLoss calls the kernel itself; functional.nll_loss validates and calls it too:
    # bit for bit the same numbers, over a non-default class axis as well
    logp = log_softmax(rng.normal(size=(6, 4, 3)), axis=1).astype(dtype)
    target = rng.integers(0, 4, (6, 3))
    layer = NLLLoss(axis=1, reduction=reduction, **options)
    loss = layer.forward(logp, target)
    grad = layer.backward()
    kw = {"axis": 1, "reduction": reduction, **options}
    np.testing.assert_array_equal(loss, nll_loss(logp, target, **kw))
    np.testing.assert_array_equal(grad, nll_loss_grad(logp, target, **kw))
    assert grad.dtype == dtype and grad.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float16, *DTYPES])
def test_log_clipped_and_its_vjp_by_hand(ops, dtype):
    p = np.array([0.0, 1e-30, 0.5, 1.0, np.nan], dtype)
    tiny = np.finfo(dtype).tiny
    # logp = log(max(p, low)), below only; NaN stays NaN
    logp, clipped = ops.log_clipped(p, tiny)
    expected = np.array([tiny, max(dtype(1e-30), tiny), 0.5, 1.0, np.nan], dtype)
    np.testing.assert_array_equal(clipped, expected)
    np.testing.assert_array_equal(logp, np.log(expected))
    assert logp.dtype == clipped.dtype == dtype
    # between two bounds: log(clip(p, eps, 1 - eps)), log_loss's
    eps = np.finfo(dtype).eps
    logp, clipped = ops.log_clipped(p, eps, 1 - eps)
    np.testing.assert_array_equal(clipped, np.array([eps, eps, 0.5, 1 - eps, np.nan], dtype))
    np.testing.assert_array_equal(logp, np.log(clipped))
    # grad_p = g / clipped, a clipped entry's too (g / low, not the clipped function's 0)
    g = np.full(p.shape, -1.0, dtype)
    np.testing.assert_array_equal(ops.log_clipped_vjp(clipped, g), -1.0 / clipped)
    assert ops.log_clipped_vjp(clipped, g, out=g) is g


def test_nllloss_of_probabilities_is_the_kernels_log(rng):
    p = rng.dirichlet(np.ones(4), size=6)
    p[0, 1] = 0.0
    target = np.array([1, 0, 2, 3, 1, 0])
    loss = NLLLoss(log_input=False, reduction="none")
    logp, clipped = get_ops().log_clipped(p, np.finfo(p.dtype).tiny)
    np.testing.assert_array_equal(loss.forward(p, target), -logp[np.arange(6), target])
    grad = get_ops().nll_loss_grad(target, None, 1.0, np.empty_like(p))
    np.testing.assert_array_equal(loss.backward(np.ones(6)), grad / clipped)

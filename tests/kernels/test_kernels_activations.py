"""The activation kernels: forward and output-based backward into out= buffers, in place."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import get_ops

TOL = {np.float32: 1e-6, np.float64: 1e-15}


@pytest.fixture
def ops(kernel_lane):
    # each lane: the Numba lane, the default, has its own activations, and get_ops() alone never
    # reached the NumPy lane's
    return get_ops()


def _cases(rng, dtype):
    x = (rng.normal(size=(16, 7)) * 3).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    return x, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("name", "forward", "derivative"),
    [
        ("relu", lambda x: np.maximum(x, 0), lambda y: (y > 0).astype(y.dtype)),
        ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), lambda s: s * (1 - s)),
        ("tanh", np.tanh, lambda t: 1 - t * t),
    ],
)
def test_forward_backward_out_and_in_place(ops, rng, dtype, name, forward, derivative):
    x, g = _cases(rng, dtype)
    y = getattr(ops, name)(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, forward(x.astype(np.float64)), rtol=TOL[dtype] * 4, atol=1e-30)
    grad = getattr(ops, f"{name}_vjp")(y, g)
    np.testing.assert_allclose(grad, g * derivative(y), rtol=TOL[dtype] * 4, atol=TOL[dtype])
    # into out=, and in place (the training step's way): the same numbers, bit for bit
    z = x.copy()
    assert getattr(ops, name)(z, out=z) is z
    np.testing.assert_array_equal(z, y)
    h = g.copy()
    assert getattr(ops, f"{name}_vjp")(y, h, out=h) is h
    np.testing.assert_array_equal(h, grad)


def test_sigmoid_extremes_and_nan(ops):
    x = np.array([-1000.0, -100.0, 0.0, 1000.0, np.nan])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = ops.sigmoid(x)
    assert s[0] == 0.0 and s[1] == pytest.approx(3.720075976020836e-44) and s[2] == 0.5
    assert s[3] == 1.0 and np.isnan(s[4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("signs", ["mixed", "all positive", "all negative"])
def test_sigmoid_is_its_two_formulas_bit_for_bit_whatever_the_signs(ops, rng, dtype, signs):
    # s = e / (1 + e), e = exp(-|x|), for x < 0 and 1 - s for x >= 0, on both lanes; the NumPy
    # lane takes a mixed array without a masked subtraction (it branched on every entry)
    x = (rng.standard_normal(4000) * 5).astype(dtype)
    x = {"mixed": x, "all positive": np.abs(x), "all negative": -np.abs(x) - 1}[signs]
    x[:3] = {"mixed": [0.0, -0.0, -1e-30], "all positive": [0.0, 1e30, np.inf]}.get(
        signs, [-np.inf, -1e30, -100.0]
    )
    e = np.exp(-np.abs(x))
    s = e / (e + dtype(1))
    expected = np.where(x >= 0, dtype(1) - s, s)
    got = ops.sigmoid(x)
    if ops.name == "numpy":
        np.testing.assert_array_equal(got, expected)
    else:  # numba_math's exp, within an ulp of NumPy's
        np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_relu_keeps_nan_and_zero_subgradient(ops):
    y = ops.relu(np.array([np.nan, 0.0, 2.0]))
    assert np.isnan(y[0]) and y[1] == 0.0
    np.testing.assert_array_equal(ops.relu_vjp(np.array([0.0, 2.0]), np.array([5.0, 5.0])), [0, 5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_products(ops, rng, dtype, axis):
    x, g = _cases(rng, dtype)
    s = ops.softmax(x, axis)
    expected = s * (g - np.sum(g * s, axis=axis, keepdims=True))
    tol = TOL[dtype] * 10
    np.testing.assert_allclose(ops.softmax_vjp(s, g, axis), expected, rtol=tol, atol=tol)
    h = g.copy()
    assert ops.softmax_vjp(s, h, axis, out=h) is h  # out may be the cotangent
    np.testing.assert_allclose(h, expected, rtol=tol, atol=tol)
    logp = ops.log_softmax(x, axis)
    vjp = g - np.exp(logp) * np.sum(g, axis=axis, keepdims=True)
    jvp = g - np.sum(np.exp(logp) * g, axis=axis, keepdims=True)
    np.testing.assert_allclose(ops.log_softmax_vjp(logp, g, axis), vjp, rtol=tol, atol=tol)
    np.testing.assert_allclose(ops.log_softmax_jvp(logp, g, axis), jvp, rtol=tol, atol=tol)


def test_log_softmax_products_leave_masked_entries_out(ops):
    logp = np.array([[np.log(0.25), -np.inf, np.log(0.75)]])  # the middle entry masked
    g = np.array([[1.0, 100.0, 0.0]])
    np.testing.assert_array_equal(ops.log_softmax_vjp(logp, g), [[0.75, 0.0, -0.75]])
    np.testing.assert_array_equal(ops.log_softmax_jvp(logp, g), [[0.75, 0.0, -0.25]])


@pytest.mark.parametrize("shape", [(0, 4), (3, 0)])
def test_empty(ops, shape):
    a = np.empty(shape)
    for fn in (ops.softmax_vjp, ops.log_softmax_vjp, ops.log_softmax_jvp):
        assert fn(a, a).shape == shape
    assert ops.relu(a).shape == shape and ops.sigmoid(a).shape == shape

"""relu / sigmoid / tanh and their output-based VJPs.

Each VJP is checked three ways: float64 central differences, the adjoint identity (the Jacobian
is diagonal, so the JVP is the same elementwise product) and the explicit diagonal Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.functional import relu, relu_vjp, sigmoid, sigmoid_vjp, tanh, tanh_vjp

PAIRS = [(relu, relu_vjp), (sigmoid, sigmoid_vjp), (tanh, tanh_vjp)]
IDS = ["relu", "sigmoid", "tanh"]
SHAPES = [(5,), (3, 4), (2, 3, 4)]
DTYPES = [(np.float64, 1e-7, 1e-9), (np.float32, 2e-5, 2e-6)]


def _x(rng, shape, dtype):
    x = rng.normal(size=shape) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep central differences away from relu's kink
    return x.astype(dtype)


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("forward", "vjp"), PAIRS, ids=IDS)
def test_vjp_matches_central_differences(
    rng, close, central_diff, forward, vjp, shape, dtype, rtol, atol
):
    x = _x(rng, shape, dtype)
    g = rng.normal(size=shape).astype(dtype)
    expected = central_diff(forward, x, g.astype(np.float64))
    actual = vjp(forward(x), g)
    assert actual.dtype == dtype
    close(actual, expected, max(rtol, 1e-6), max(atol, 1e-8), what=f"{vjp.__name__} vs FD")


@pytest.mark.parametrize(("forward", "vjp"), PAIRS, ids=IDS)
def test_adjoint_identity_and_explicit_jacobian(rng, close, forward, vjp):
    x = _x(rng, (4, 3), np.float64)
    u = rng.normal(size=x.shape)
    v = rng.normal(size=x.shape)
    y = forward(x)
    # the Jacobian is diagonal: d y_k / d x_k = vjp(y, 1)_k
    jac = np.diag(vjp(y, np.ones_like(y)).ravel())
    close(vjp(y, u).ravel(), u.ravel() @ jac, 1e-15, 0, what="vjp == u @ J")
    jvp = (jac @ v.ravel()).reshape(x.shape)
    lhs, rhs = np.sum(u * jvp), np.sum(vjp(y, u) * v)
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs), f"<u, J v> = {lhs!r} but <J^T u, v> = {rhs!r}"


def test_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu(x), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(tanh(x), np.tanh(x), rtol=0)
    np.testing.assert_array_equal(relu_vjp(relu(x), np.ones(3)), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sigmoid_stable_for_large_inputs(dtype):
    big = float(np.finfo(dtype).max)
    x = np.array([-big, -1e4, -80.0, 80.0, 1e4, big], dtype)
    s = sigmoid(x)
    assert s.dtype == dtype
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
    assert s[0] == 0 and s[-1] == 1
    if dtype != np.float16:  # exp(-80) = 1.8e-35 is representable: kept, not flushed to 0
        np.testing.assert_allclose(s[2], np.exp(-80.0), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(("forward", "vjp"), PAIRS, ids=IDS)
def test_dtype_rule(forward, vjp, dtype):
    x = np.array([-1.0, 0.5], dtype)
    assert forward(x).dtype == dtype
    assert vjp(forward(x), x).dtype == dtype
    assert forward(np.array([1, -1])).dtype == np.float64
    assert forward(np.array([True, False])).dtype == np.float64


@pytest.mark.parametrize(("forward", "vjp"), PAIRS, ids=IDS)
def test_nan_propagates(forward, vjp):
    y = forward(np.array([np.nan, 1.0]))
    assert np.isnan(y[0]) and np.isfinite(y[1])


@pytest.mark.parametrize(("forward", "vjp"), PAIRS, ids=IDS)
def test_out_buffers(rng, forward, vjp):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    expected = forward(x)
    out = np.empty_like(x)
    assert forward(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    x_copy = x.copy()
    assert forward(x_copy, out=x_copy) is x_copy
    np.testing.assert_array_equal(x_copy, expected)
    g = rng.normal(size=x.shape).astype(np.float32)
    grad = vjp(expected, g)
    assert vjp(expected, g, out=out) is out
    np.testing.assert_array_equal(out, grad)
    assert vjp(expected, g, out=g) is g
    np.testing.assert_array_equal(g, grad)


@pytest.mark.parametrize(("forward", "vjp"), PAIRS, ids=IDS)
def test_bad_arguments(forward, vjp):
    with pytest.raises(
        TypeError, match=rf"^{forward.__name__}: x must be a real array .*; got dtype 'complex128'$"
    ):
        forward(np.zeros(2, complex))
    name = vjp.__name__
    with pytest.raises(
        ValueError, match=rf"^{name}: g must have the same shape as \w+ \(2,\); got shape \(3,\)$"
    ):
        vjp(np.zeros(2), np.zeros(3))
    with pytest.raises(
        ValueError, match=rf"^{forward.__name__}: out must have shape \(2,\); got shape \(3,\)$"
    ):
        forward(np.zeros(2), out=np.zeros(3))

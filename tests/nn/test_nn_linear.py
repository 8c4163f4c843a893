"""Linear: gradients over shapes and dtypes, initialisation, live params, buffers, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck
from softgrad.nn import Linear

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4,), (5, 4), (3, 2, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_passes_gradcheck(shape, dtype, bias, rng):
    layer = Linear(4, 3, bias=bias, rng=rng, dtype=dtype)
    layer.params["b" if bias else "W"][...] += 0.1  # a non-zero bias is checked too
    x = rng.standard_normal(shape).astype(dtype)
    result = gradcheck(layer, x, rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == (["x", "W", "b"] if bias else ["x", "W"])
    # the layer's own dtype path agrees with float64 and keeps its dtype
    ref = Linear(4, 3, bias=bias, rng=0, dtype=np.float64)
    for name in layer.params:
        ref.params[name][...] = layer.params[name]
    y = layer.forward(x)
    g = rng.standard_normal(y.shape).astype(dtype)
    grad_x = layer.backward(g)
    np.testing.assert_allclose(y, ref.forward(x.astype(np.float64)), **TOL[dtype])
    np.testing.assert_allclose(grad_x, ref.backward(g.astype(np.float64)), **TOL[dtype])
    for name in layer.params:
        assert layer.grads[name].dtype == dtype
        np.testing.assert_allclose(layer.grads[name], ref.grads[name], **TOL[dtype])
    assert y.shape == (*shape[:-1], 3) and grad_x.shape == shape


def test_forward_is_x_at_w_plus_b(rng):
    layer = Linear(3, 2, rng=rng, dtype=np.float64)
    layer.params["b"][...] = [1.0, -2.0]
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["W"] + [1.0, -2.0])


def test_params_are_live(rng):
    layer = Linear(2, 2, rng=rng, dtype=np.float64)
    layer.params["W"][...] = np.eye(2)
    layer.params["b"][...] = 0.0
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 2.0]])), [[1.0, 2.0]])
    layer.params["W"] *= 3.0  # in place, as an optimizer does
    layer.params["b"] += 1.0
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 2.0]])), [[4.0, 7.0]])


def test_grad_buffers_are_reused_across_steps_and_reallocated_after_astype(rng):
    layer = Linear(3, 2, rng=rng)
    grad_w, grad_b = layer.grads["W"], layer.grads["b"]
    for _ in range(2):
        layer.forward(rng.standard_normal((4, 3)).astype(np.float32))
        layer.backward(np.ones((4, 2), dtype=np.float32))
        assert layer.grads["W"] is grad_w and layer.grads["b"] is grad_b
    np.testing.assert_allclose(grad_b, [4.0, 4.0])
    layer.astype(np.float64)
    assert layer.params["W"].dtype == layer.grads["W"].dtype == np.float64
    layer.forward(np.ones((1, 3)))
    layer.backward(np.ones((1, 2)))
    assert layer.grads["W"].dtype == np.float64


def test_input_grad_false_skips_grad_x_but_sets_param_grads(rng):
    layer = Linear(3, 2, rng=rng)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    g = rng.standard_normal((5, 2)).astype(np.float32)
    layer.forward(x)
    layer.backward(g)
    expected = {name: grad.copy() for name, grad in layer.grads.items()}
    layer.forward(x)
    assert layer.backward(g, input_grad=False) is None
    for name, grad in expected.items():
        np.testing.assert_array_equal(layer.grads[name], grad)


def test_float32_layer_casts_float64_input_and_never_promotes(rng):
    layer = Linear(3, 2, rng=rng)  # float32 by default
    y = layer.forward(rng.standard_normal((4, 3)))  # float64 input
    assert y.dtype == np.float32
    grad_x = layer.backward(np.ones((4, 2)))  # float64 grad
    assert grad_x.dtype == np.float32 and layer.grads["W"].dtype == np.float32
    assert layer.forward(np.ones((1, 3), dtype=np.int64)).dtype == np.float32


def test_non_contiguous_and_3d_inputs(rng):
    layer = Linear(3, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((3, 6))[:, ::2]  # a strided view
    np.testing.assert_allclose(layer.forward(x), np.ascontiguousarray(x) @ layer.params["W"])
    x3 = rng.standard_normal((2, 4, 3))
    y3 = layer.forward(x3)
    np.testing.assert_allclose(y3.reshape(8, 2), layer.forward(x3.reshape(8, 3)))


def test_forward_output_is_fresh(rng):
    layer = Linear(3, 3, rng=rng)
    x = np.ones((2, 3), dtype=np.float32)
    first = layer.forward(x)
    kept = first.copy()
    layer.forward(2 * x)
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("init", ["he", "glorot"])
def test_initialisation_scale(init):
    layer = Linear(400, 300, rng=0, init=init, dtype=np.float64)
    weights = layer.params["W"]
    np.testing.assert_array_equal(layer.params["b"], 0.0)
    if init == "he":  # normal with std sqrt(2 / in_features)
        assert abs(weights.std() / np.sqrt(2 / 400) - 1) < 0.02
        assert abs(weights.mean()) < 0.01
    else:  # uniform on +-sqrt(6 / (in + out)): std = limit / sqrt(3)
        limit = np.sqrt(6 / 700)
        assert np.abs(weights).max() <= limit
        assert abs(weights.std() / (limit / np.sqrt(3)) - 1) < 0.02


def test_same_seed_same_weights():
    a, b = Linear(5, 4, rng=7), Linear(5, 4, rng=7)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], Linear(5, 4, rng=8).params["W"])


def test_get_config_is_json_safe_and_rebuilds(rng):
    layer = Linear(5, 4, bias=False, rng=rng, init="glorot", dtype=np.float64)
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {
        "in_features": 5,
        "out_features": 4,
        "bias": False,
        "init": "glorot",
        "dtype": "float64",
    }
    clone = Linear(**config, rng=0)
    assert clone.params.keys() == layer.params.keys()
    assert clone.params["W"].dtype == np.float64
    assert repr(layer).startswith("Linear(in_features=5, out_features=4, bias=False")


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match=r"Linear\.backward: forward must be called"):
        Linear(2, 2, rng=0).backward(np.ones((1, 2)))


def test_bad_arguments_raise_clear_errors(rng):
    with pytest.raises(ValueError, match="in_features must be a positive int; got 0"):
        Linear(0, 2)
    with pytest.raises(ValueError, match=r"out_features must be a positive int; got 2\.5"):
        Linear(2, 2.5)
    with pytest.raises(ValueError, match="init must be one of 'he', 'glorot'; got 'xavier'"):
        Linear(2, 2, init="xavier")
    with pytest.raises(TypeError, match="dtype must be one of float16, float32, float64"):
        Linear(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        Linear(2, 2, rng="seed")
    layer = Linear(3, 2, rng=rng)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\); got shape \(2, 4\)"):
        layer.forward(np.ones((2, 4)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 2\)"):
        layer.backward(np.ones((2, 3)))


def test_a_float32_bias_gradient_over_a_tall_batch_keeps_its_digits():
    # one BLAS GEMV summed the batch in running sums: 1.4e-4 of a bias gradient of equal
    # entries over 1e5 rows (9.6e-3 over 1e6), where NumPy's pairwise sum kept 6e-8. Now
    # blocks of 128 rows, each at most 128 roundings of its running sum (32 eps of equal
    # entries at worst), are added in float64
    rows = 200_000
    layer = Linear(3, 2, rng=0, dtype=np.float32)
    layer.forward(np.ones((rows, 3), np.float32))
    layer.backward(np.full((rows, 2), 0.1, np.float32))
    exact = float(np.float32(0.1)) * rows
    error = np.max(np.abs(layer.grads["b"].astype(np.float64) - exact)) / exact
    assert error <= 64 * np.finfo(np.float32).eps, error

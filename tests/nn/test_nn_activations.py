"""Activation layers: gradcheck over shapes/axes/dtypes, dtype rules, caching, errors."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck
from softgrad.nn import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh

SHAPES = [(5,), (4, 5), (3, 2, 5)]
DTYPES = [np.float32, np.float64]
# float32 layer vs the same computation in float64
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-14}}
ELEMENTWISE = [ReLU, Tanh, Sigmoid, Identity]


def away_from_zero(rng, shape):
    """Normal samples pushed at least 0.05 from 0, so ReLU's kink is never within eps."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + 0.05, x - 0.05)


def check_layer(make, x, rng):
    """gradcheck (float64) plus: the layer in x's dtype agrees with float64 and keeps dtype."""
    dtype = x.dtype.type
    result = gradcheck(make(), x, rng=rng)
    assert result.ok, str(result)
    layer, ref = make(), make()
    y = layer.forward(x)
    g = rng.standard_normal(y.shape).astype(dtype)
    grad_x = layer.backward(g)
    y_ref = ref.forward(x.astype(np.float64))
    grad_ref = ref.backward(g.astype(np.float64))
    assert y.dtype == dtype and grad_x.dtype == dtype
    assert y.shape == x.shape and grad_x.shape == x.shape
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])
    np.testing.assert_allclose(grad_x, grad_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layer_cls", ELEMENTWISE)
def test_elementwise_layers_pass_gradcheck(layer_cls, shape, dtype, rng):
    check_layer(layer_cls, away_from_zero(rng, shape).astype(dtype), rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layer_cls", [Softmax, LogSoftmax])
def test_softmax_layers_pass_gradcheck_on_every_axis(layer_cls, shape, dtype, rng):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    for axis in range(-len(shape), len(shape)):
        check_layer(lambda axis=axis: layer_cls(axis=axis), x, rng)


def test_softmax_layer_output_sums_to_one_along_its_axis(rng):
    x = rng.standard_normal((3, 4, 5))
    for axis in range(3):
        s = Softmax(axis=axis).forward(x)
        np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-12)
        np.testing.assert_allclose(
            np.exp(LogSoftmax(axis=axis).forward(x)), s, rtol=1e-12, atol=1e-15
        )


def test_relu_derivative_at_zero_is_zero():
    layer = ReLU()
    layer.forward(np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(layer.backward(np.array([7.0, 7.0, 7.0])), [0.0, 0.0, 7.0])


def test_sigmoid_and_tanh_layers_are_finite_and_saturate_for_huge_inputs():
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32)
    for layer in (Sigmoid(), Tanh()):
        y = layer.forward(x)
        assert np.all(np.isfinite(y))
        grad = layer.backward(np.ones_like(x))
        assert np.all(np.isfinite(grad)) and grad[0] == 0.0 and grad[-1] == 0.0


@pytest.mark.parametrize("layer_cls", [*ELEMENTWISE, Softmax, LogSoftmax])
def test_forward_output_is_fresh_and_input_untouched(layer_cls, rng):
    x = away_from_zero(rng, (4, 3))
    before = x.copy()
    layer = layer_cls()
    y = layer.forward(x)
    assert not np.shares_memory(x, y)
    g = rng.standard_normal(y.shape)
    g_before = g.copy()
    grad_x = layer.backward(g)
    assert not np.shares_memory(grad_x, g)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(g, g_before)


@pytest.mark.parametrize("layer_cls", [*ELEMENTWISE, Softmax, LogSoftmax])
def test_backward_before_forward_raises_runtime_error_naming_the_layer(layer_cls):
    with pytest.raises(RuntimeError, match=layer_cls.__name__):
        layer_cls().backward(np.ones(3))


@pytest.mark.parametrize("layer_cls", [*ELEMENTWISE, Softmax, LogSoftmax])
def test_backward_rejects_a_grad_of_the_wrong_shape(layer_cls):
    layer = layer_cls()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 3\)"):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize("layer_cls", [*ELEMENTWISE, Softmax, LogSoftmax])
def test_input_grad_false_returns_none(layer_cls):
    layer = layer_cls()
    layer.forward(np.ones((2, 3)))
    assert layer.backward(np.ones((2, 3)), input_grad=False) is None


def test_integer_input_gives_float64_and_float64_grad_is_cast_to_the_layer_dtype():
    layer = Tanh()
    y = layer.forward(np.array([0, 1, 2]))
    assert y.dtype == np.float64
    layer32 = ReLU()
    layer32.forward(np.array([1.0, -1.0], dtype=np.float32))
    assert layer32.backward(np.array([2.0, 2.0])).dtype == np.float32


def test_softmax_axis_is_validated():
    with pytest.raises(TypeError, match="axis must be an int"):
        Softmax(axis=1.5)
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 2\)"):
        Softmax(axis=2).forward(np.ones((2, 3)))


def test_config_and_repr_show_the_constructor_arguments():
    assert Softmax(axis=0).get_config() == {"axis": 0}
    assert repr(LogSoftmax(axis=1)) == "LogSoftmax(axis=1)"
    assert ReLU().get_config() == {} and repr(ReLU()) == "ReLU()"


def test_train_and_eval_return_the_layer_and_set_the_flag():
    layer = ReLU()
    assert layer.eval() is layer and layer.training is False
    assert layer.train() is layer and layer.training is True


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_layer_backward_equals_g_times_the_explicit_jacobian(log, shape, rng):
    from softgrad import functional as F

    x = 2 * rng.standard_normal(shape)
    g = rng.standard_normal(shape)
    for axis in range(-len(shape), len(shape)):
        layer = LogSoftmax(axis=axis) if log else Softmax(axis=axis)
        layer.forward(x)
        jacobian = (F.log_softmax_jacobian if log else F.softmax_jacobian)(x, axis=axis)
        # J has shape S-without-axis + (n, n) with J[..., i, j] = d y_i / d x_j
        expected = np.einsum("...i,...ij->...j", np.moveaxis(g, axis, -1), jacobian)
        np.testing.assert_allclose(
            layer.backward(g), np.moveaxis(expected, -1, axis), rtol=1e-12, atol=1e-14
        )


@pytest.mark.parametrize("layer_cls", [*ELEMENTWISE, Softmax, LogSoftmax])
@pytest.mark.parametrize(
    "x", [np.array([1 + 5j, 2.0]), np.array(["1", "2"]), np.array([1.0, None], dtype=object)]
)
def test_input_that_is_not_real_numbers_is_refused(layer_cls, x):
    # cast to float64, a complex input lost its imaginary part, strings were parsed and None
    # became NaN, silently (the functional API refused them)
    name = layer_cls.__name__
    with pytest.raises(TypeError, match=rf"^{name}\.forward: x must be a real array .* got dtype"):
        layer_cls().forward(x)


@pytest.mark.parametrize("layer_cls", [*ELEMENTWISE, Softmax, LogSoftmax])
def test_a_complex_grad_is_refused(layer_cls):
    layer = layer_cls()
    layer.forward(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"backward: grad_y must be a real array"):
        layer.backward(np.array([1j, 0]))

"""Linear.from_arrays: a Linear around given arrays, checked as the constructor checks its
arguments, holding the arrays themselves (the public route the estimator and model files use
to build a network from given weights)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential


def test_the_layer_holds_the_arrays_and_trains():
    W = np.arange(6, dtype=np.float64).reshape(3, 2)
    b = np.array([0.5, -0.5])
    layer = Linear.from_arrays(W, b, init="glorot")
    assert layer.params["W"] is W and layer.params["b"] is b
    assert layer.get_config() == {
        "in_features": 3, "out_features": 2, "bias": True, "init": "glorot", "dtype": "float64"
    }  # fmt: skip
    x = np.ones((4, 3))
    np.testing.assert_array_equal(layer.forward(x), x @ W + b)
    layer.backward(np.ones((4, 2)))  # the gradients are allocated here
    np.testing.assert_array_equal(layer.grads["W"], np.full((3, 2), 4.0))
    np.testing.assert_array_equal(layer.grads["b"], [4.0, 4.0])


def test_without_a_bias_and_in_a_sequential():
    W = np.ones((2, 3), dtype=np.float32)
    layer = Linear.from_arrays(W)
    assert not layer.bias and list(layer.params) == ["W"]
    network = Sequential(layer, ReLU())  # the store copies W into its buffer
    params = network.named_params()
    np.testing.assert_array_equal(params["0.W"], W)
    assert params["0.W"].base is params.flat and params["0.W"] is not W


@pytest.mark.parametrize(
    ("W", "b", "init", "error", "message"),
    [
        ([[1.0]], None, "he", TypeError, "Linear.from_arrays: W must be an ndarray; got list"),
        (np.ones((2, 2)), [1.0, 2.0], "he", TypeError,
         "Linear.from_arrays: b must be an ndarray; got list"),
        (np.ones(3), None, "he", ValueError,
         "Linear.from_arrays: W must have shape (in_features, out_features); got shape (3,)"),
        (np.ones((0, 2)), None, "he", ValueError,
         "Linear: in_features must be a positive int; got 0"),
        (np.ones((2, 2), dtype=int), None, "he", TypeError,
         "Linear: dtype must be one of float16, float32, float64; got dtype('int64')"),
        (np.ones((2, 2), dtype=">f8"), None, "he", ValueError,
         "Linear.from_arrays: W must be of a native float dtype, float64; got '>f8'"),
        (np.ones((2, 3)), np.ones(2), "he", ValueError,
         "Linear.from_arrays: b must have shape (3,) and W's dtype float64; got shape (2,), "
         "float64"),
        (np.ones((2, 3)), np.ones(3, np.float32), "he", ValueError,
         "Linear.from_arrays: b must have shape (3,) and W's dtype float64; got shape (3,), "
         "float32"),
        (np.ones((2, 3)), None, "xavier", ValueError,
         "Linear: init must be one of 'he', 'glorot'; got 'xavier'"),
    ],
)  # fmt: skip
def test_what_the_constructor_would_refuse_is_refused(W, b, init, error, message):
    with pytest.raises(error) as info:
        Linear.from_arrays(W, b, init=init)
    assert str(info.value) == message

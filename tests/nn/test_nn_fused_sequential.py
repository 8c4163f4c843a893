"""Sequential(fuse=True): Linear + activation pairs run as the product plus one bias_activation
call, and give the unfused network's outputs and gradients in both kernel lanes."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck
from softgrad.nn import Dropout, Identity, Linear, ReLU, Sequential, Sigmoid, Softmax, Tanh

ACTIVATIONS = [ReLU, Tanh, Sigmoid, Identity]


@pytest.fixture
def lane(kernel_lane):
    """Each test once per kernel lane (tests/conftest.py's kernel_lane)."""
    return kernel_lane


def _pair_net(activation, dtype=np.float32, fuse=True):
    return Sequential(
        Linear(6, 9, rng=0, dtype=dtype),
        activation(),
        Linear(9, 9, rng=1, dtype=dtype),
        activation(),
        Linear(9, 4, rng=2, dtype=dtype),
        fuse=fuse,
    )


def _tolerance(dtype, n_ops, magnitude):
    # n_ops roundings of the dtype (libm's exp/tanh in the Numba lane against NumPy's),
    # relative to the largest value the results are made of
    return n_ops * float(np.finfo(dtype).eps) * max(1.0, magnitude)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_equals_unfused_forward_and_backward(activation, dtype, lane, rng):
    fused, plain = _pair_net(activation, dtype), _pair_net(activation, dtype, fuse=False)
    assert fused.fused_pairs == {0, 2} and plain.fused_pairs == frozenset()
    x = rng.standard_normal((32, 6)).astype(dtype)
    g = rng.standard_normal((32, 4)).astype(dtype)
    g_before = g.copy()
    y_fused, y_plain = fused.forward(x), plain.forward(x)
    gx_fused, gx_plain = fused.backward(g), plain.backward(g)
    np.testing.assert_array_equal(g, g_before)  # the caller's gradient is never written
    results = [(y_fused, y_plain), (gx_fused, gx_plain)]
    results += [(fused.named_grads()[k], v) for k, v in plain.named_grads().items()]
    for got, expected in results:
        assert got.dtype == expected.dtype == dtype
        if lane == "numpy":  # the same formulas: bit for bit
            np.testing.assert_array_equal(got, expected)
        else:
            tol = _tolerance(dtype, 64, float(np.max(np.abs(expected))))
            np.testing.assert_allclose(got, expected, rtol=0, atol=tol)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_fused_network_passes_gradcheck(activation, lane, rng):
    net = _pair_net(activation, np.float64)
    x = rng.standard_normal((5, 6))
    result = gradcheck(net, x, rng=rng)
    assert result.ok, str(result)


def test_fused_pairs_name_each_linear_with_the_activation_after_it():
    net = Sequential(
        Linear(3, 4, rng=0),
        ReLU(),
        Dropout(0.5, rng=0),
        Linear(4, 4, rng=1),
        Softmax(),  # not an elementwise activation: not fused
        Linear(4, 4, rng=2),
        Tanh(),
        Tanh(),
    )
    assert net.fused_pairs == {0, 5}
    net.layers[1] = Dropout(0.1, rng=0)
    assert net.fused_pairs == {5}  # the layers list changed: found again
    net.fuse = False
    assert net.fused_pairs == frozenset()


def test_a_float16_linear_runs_unfused(rng):
    net = _pair_net(ReLU, np.float16)
    x = rng.standard_normal((4, 6)).astype(np.float16)
    expected = _pair_net(ReLU, np.float16, fuse=False).forward(x)
    np.testing.assert_array_equal(net.forward(x), expected)
    net.backward(np.ones((4, 4), np.float16))


def test_fuse_must_be_a_bool():
    with pytest.raises(TypeError, match="Sequential: fuse must be a bool; got 'yes'"):
        Sequential(Linear(2, 2, rng=0), fuse="yes")


def test_fuse_survives_slicing_copies_and_pickles_but_not_the_config(rng):
    net = _pair_net(Tanh, fuse=False)
    assert net[0:2].fuse is False
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert clone.fuse is False and clone.fused_pairs == frozenset()
    fused = _pair_net(Tanh)
    clone = pickle.loads(pickle.dumps(fused))
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_array_equal(clone.forward(x), fused.forward(x))
    assert "fuse" not in str(fused.get_config())
    rebuilt = Sequential.from_config(fused.get_config(), rng=0)
    assert rebuilt.fuse is True


def test_a_sequential_pickled_before_fusing_existed_fuses(rng):
    net = _pair_net(ReLU)
    state = net.__getstate__()
    for key in ("fuse", "_pairs"):
        state.pop(key)
    old = Sequential.__new__(Sequential)
    old.__setstate__(state)
    assert old.fuse is True and old.fused_pairs == {0, 2}
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_array_equal(old.forward(x), net.forward(x))


def test_the_parameter_store_is_unchanged_by_fusing(rng):
    net = _pair_net(ReLU)
    before = {k: v.ctypes.data for k, v in net.named_params().items()}
    net.forward(rng.standard_normal((3, 6)).astype(np.float32))
    net.backward(np.ones((3, 4), np.float32), input_grad=False)
    assert {k: v.ctypes.data for k, v in net.named_params().items()} == before
    assert net.named_grads().flat is not None


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_activated_in_float16_is_the_unfused_layers_on_either_lane(activation, lane, rng):
    # float16 has no compiled kernel: the Numba lane raised Numba's NotImplementedError
    layer = Linear(5, 4, rng=0, dtype=np.float16)
    x = rng.standard_normal((3, 5)).astype(np.float16)
    name = activation.__name__.lower()
    y = layer.forward_activated(x, name)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, activation().forward(layer.forward(x)))


def test_forward_activated_names_the_activation(rng):
    layer = Linear(3, 2, rng=0, dtype=np.float64)
    x = rng.standard_normal((4, 3))
    # the Numba lane's tanh is the C library's in float64: within an ulp of NumPy's
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(
        layer.forward_activated(x, "tanh"), np.tanh(layer.forward(x)), rtol=2 * eps, atol=eps
    )
    with pytest.raises(ValueError, match=r"activation must be one of .*; got 'gelu'"):
        layer.forward_activated(x, "gelu")


@pytest.mark.parametrize("fuse", [True, False])
def test_a_fused_pair_refuses_a_wrong_input_as_the_unfused_network_does(fuse, rng):
    # the user called the network's forward: no internal method's name in the message
    x = rng.standard_normal((2, 5)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^Linear\.forward: x must have shape \(\.\.\., 6\); got"):
        _pair_net(ReLU, fuse=fuse).forward(x)
    with pytest.raises(ValueError, match=r"^Linear\.forward_activated: x must have shape"):
        Linear(6, 9, rng=0).forward_activated(x, "relu")  # called by name: named so


@pytest.mark.parametrize("hooked", ["linear forward", "activation backward"])
def test_a_hook_set_on_a_layer_of_a_pair_runs_as_it_would_unfused(hooked, rng):
    # the pair ran Linear.forward_activated and the activation's backward_in_place: a hook set
    # on the instance (a wrapper, a fault injector) was skipped without a word
    x = rng.standard_normal((4, 6)).astype(np.float32)
    results = []
    for fuse in (True, False):
        net, calls = _pair_net(ReLU, fuse=fuse), []
        layer = net[0] if hooked == "linear forward" else net[1]
        real = getattr(layer, hooked.split()[1])

        def hook(*args, real=real, calls=calls, **kwargs):
            calls.append(hooked)
            return real(*args, **kwargs) * 2.0

        setattr(layer, hooked.split()[1], hook)
        assert net.fused_pairs == (frozenset({2}) if fuse else frozenset())  # the other fuses
        y = net.forward(x)
        grad = net.backward(np.ones_like(y))
        assert calls == [hooked]
        results.append((y, grad))
    for fused, unfused in zip(*results, strict=True):
        np.testing.assert_allclose(fused, unfused, rtol=1e-6, atol=1e-6)

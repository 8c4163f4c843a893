"""A Sequential's layer lists: a layer used twice is refused, and a layer replaced, added or
removed (at any depth) reaches the parameter store and the optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import Dropout, Layer, Linear, ReLU, Sequential, Softmax, Tanh
from softgrad.optim import SGD


@pytest.mark.parametrize("make_layer", [Tanh, ReLU, Softmax, lambda: Dropout(0.5, rng=0)])
def test_a_layer_without_parameters_used_twice_is_refused(make_layer):
    # each use would overwrite the forward pass the other one's backward reads: with a Tanh at
    # 1 and 3 the gradient at 1 came out of the output at 3 (0.827 for 0.499 on this net)
    shared = make_layer()
    name = type(shared).__name__
    with pytest.raises(ValueError, match=f"each layer must appear once; got the {name} at 3 again"):
        Sequential(Linear(3, 3, rng=0), shared, Linear(3, 3, rng=1), shared)


def test_a_layer_used_twice_is_refused_across_nesting_and_when_added_later():
    shared = ReLU()
    with pytest.raises(ValueError, match=r"got the ReLU at 1\.0 again after 0"):
        Sequential(shared, Sequential(shared))
    net = Sequential(Linear(2, 2, rng=0), shared)
    net.layers.append(shared)
    with pytest.raises(ValueError, match="got the ReLU at 2 again after 1"):
        net.named_params()
    net = Sequential(Linear(2, 2, rng=0))
    net.layers.append(net)
    with pytest.raises(ValueError, match="got the Sequential at 1 again after the network itself"):
        net.named_params()


def test_a_layer_replaced_in_a_nested_sequential_reaches_the_outer_store():
    inner = Sequential(Linear(3, 4, rng=0), ReLU())
    net = Sequential(inner, Linear(4, 2, rng=1))
    inner.layers[0] = Linear(3, 4, bias=False, rng=2)
    params = net.named_params()
    assert list(params) == ["0.0.W", "1.W", "1.b"]
    assert params["0.0.W"] is inner[0].params["W"]
    inner.layers.append(Linear(4, 4, rng=3))
    assert list(net.named_params()) == ["0.0.W", "0.2.W", "0.2.b", "1.W", "1.b"]


@pytest.mark.parametrize("nested", [False, True])
def test_an_optimizer_refuses_the_dicts_from_before_a_layer_was_replaced(nested):
    # the dicts from before still described the old layer: a step trained it, detached, and
    # left the network's new layer as it was
    inner = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
    net = Sequential(inner) if nested else inner
    params, grads = net.named_params(), net.named_grads()
    opt = SGD(lr=0.1)
    inner.layers[2] = Linear(4, 2, rng=5)
    net.backward(net.forward(np.ones((2, 3), dtype=np.float32)))
    with pytest.raises(RuntimeError, match="params must be the network's current parameters"):
        opt.step(params, grads)
    before = inner[2].params["W"].copy()
    opt.step(net.named_params(), net.named_grads())
    assert not np.array_equal(inner[2].params["W"], before)


def test_reassigning_the_layers_list_is_seen_too():
    net = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
    params, grads = net.named_params(), net.named_grads()
    net.layers = [net.layers[0], ReLU(), Linear(4, 5, rng=2)]
    with pytest.raises(RuntimeError, match="a layer replaced, added or removed"):
        SGD().step(params, grads)
    assert net.named_params()["2.W"].shape == (4, 5)


def test_a_layer_whose_init_skipped_layers_is_named():
    # Sequential(Scale()) met "'Scale' object has no attribute 'params'"
    class Scale(Layer):
        def __init__(self):
            self.factor = 2.0

        def forward(self, x):
            return self.factor * x

    with pytest.raises(TypeError, match="layer Scale at 1 must have the dicts params and grads"):
        Sequential(ReLU(), Scale())
    net = Sequential(ReLU(), Sequential())
    net[1].layers.append(Scale())
    with pytest.raises(TypeError, match=r"Scale at 1\.0 must have .* \(call super\(\)\.__init__"):
        net.named_params()

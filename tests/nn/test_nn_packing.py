"""Sequential keeps its parameters and gradients in one buffer each (softgrad.nn.packing)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential, Tanh, build_mlp
from softgrad.nn.packing import ParamDict


def _net(dtype=np.float32):
    return Sequential(Linear(5, 7, rng=0, dtype=dtype), ReLU(), Linear(7, 3, rng=1, dtype=dtype))


def _intervals(flat, arrays):
    base = flat.__array_interface__["data"][0]
    size = flat.itemsize
    return [((a.__array_interface__["data"][0] - base) // size, a.size) for a in arrays.values()]


def test_construction_keeps_the_values_and_moves_them_into_one_buffer():
    layers = [Linear(5, 7, rng=0), ReLU(), Linear(7, 3, rng=1)]
    before = {f"{i}.{n}": a.copy() for i, l in enumerate(layers) for n, a in l.params.items()}
    net = Sequential(*layers)
    params = net.named_params()
    assert isinstance(params, ParamDict)
    for key, value in before.items():
        np.testing.assert_array_equal(params[key], value)
        assert params[key].base is params.flat
    assert layers[0].params["W"] is params["0.W"]  # the layer's own dict holds the view


def test_the_arrays_follow_each_other_with_no_gaps():
    net = _net()
    params, grads = net.named_params(), net.named_grads()
    assert _intervals(params.flat, params) == [(0, 35), (35, 7), (42, 21), (63, 3)]
    assert _intervals(grads.flat, grads) == [(0, 35), (35, 7), (42, 21), (63, 3)]
    assert params.flat.size == grads.flat.size == 66


def test_backward_writes_into_the_gradient_buffer():
    net = _net(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 5))
    net.forward(x)
    net.backward(np.ones((4, 3)), input_grad=False)
    grads = net.named_grads()
    assert isinstance(grads, ParamDict)
    for (start, size), grad in zip(_intervals(grads.flat, grads), grads.values(), strict=True):
        assert grad.base is grads.flat
        np.testing.assert_array_equal(grads.flat[start : start + size], grad.ravel())
    h = net.layers[1]._y  # the hidden activations
    np.testing.assert_allclose(grads["2.W"], h.T @ np.ones((4, 3)))
    np.testing.assert_allclose(grads["2.b"], [4.0, 4.0, 4.0])


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.__setitem__("0.W", np.zeros((5, 7), dtype=np.float32)),
        lambda d: d.__delitem__("0.b"),
        lambda d: d.pop("2.b"),
        lambda d: d.update({"2.W": np.zeros((7, 3), dtype=np.float32)}),
        lambda d: d.setdefault("x", np.zeros(1)),
        lambda d: d.popitem(),
        lambda d: d.clear(),
        lambda d: d.__ior__({"0.b": np.zeros(7, dtype=np.float32)}),
    ],
    ids=["set", "del", "pop", "update", "setdefault", "popitem", "clear", "ior"],
)
def test_an_edited_dict_no_longer_claims_the_flat_buffer(edit):
    params = _net().named_params()
    assert params.packing is not None
    edit(params)
    assert params.packing is None


def test_an_array_that_does_not_own_its_memory_is_never_moved():
    class Window(Linear):  # exposes a view of a buffer of its own
        def __init__(self):
            super().__init__(3, 2, rng=0)
            self.buffer = np.zeros((4, 2), dtype=np.float32)
            self.params["W"] = self.buffer[:3]

    net = Sequential(Window(), ReLU())
    assert type(net.named_params()) is dict
    assert net.named_params()["0.W"].base is net.layers[0].buffer


def test_replacing_a_layers_array_turns_the_dicts_back_into_plain_dicts():
    net = _net()
    net.layers[2].params["b"] = np.zeros(3, dtype=np.float32)
    assert type(net.named_params()) is dict
    assert isinstance(net.named_grads(), ParamDict)  # the gradients are still the packed views


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda net: pickle.loads(pickle.dumps(net))])
def test_a_copy_is_packed_afresh_and_independent(clone):
    net = _net()
    twin = clone(net)
    params, twin_params = net.named_params(), twin.named_params()
    assert isinstance(twin_params, ParamDict)
    assert twin_params.flat is not params.flat
    twin_params["0.W"][...] = 5.0
    assert twin_params.flat[0] == 5.0
    assert not np.any(params["0.W"] == 5.0)


def test_a_slice_shares_the_layers_and_leaves_the_parent_packed():
    net = _net()
    head = net[2:]
    assert head.layers[0].params["W"] is net.layers[2].params["W"]
    assert isinstance(net.named_params(), ParamDict)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sequential(Sequential(Linear(2, 2, rng=0)), Linear(2, 2, rng=1)),  # nested
        lambda: (lambda shared: Sequential(shared, Tanh(), shared))(Linear(3, 3, rng=0)),
        lambda: Sequential(Linear(2, 2, dtype=np.float32), Linear(2, 2, dtype=np.float64)),
        lambda: Sequential(ReLU(), Tanh()),
    ],
    ids=["nested", "shared-layer", "mixed-dtypes", "no-params"],
)
def test_what_is_not_packed_keeps_plain_dicts(make):
    assert type(make().named_params()) is dict


def test_astype_packs_the_converted_arrays():
    net = build_mlp(4, [3], 2, rng=0)
    w = net.named_params()["0.W"].copy()
    net.astype(np.float64)
    params = net.named_params()
    assert isinstance(params, ParamDict) and params.flat.dtype == np.float64
    np.testing.assert_array_equal(params["0.W"], w.astype(np.float64))


@pytest.mark.parametrize(
    "hold",
    [
        lambda layer: layer.params["W"],  # a variable holding the weights
        lambda layer: layer.params["b"][1:],  # a view of the bias
        lambda layer: layer.grads["W"],  # the gradient array
    ],
    ids=["weights", "view-of-bias", "gradient"],
)
def test_arrays_referenced_before_construction_are_never_moved(hold):
    first = Linear(5, 7, rng=0)
    held = hold(first)
    net = Sequential(first, ReLU(), Linear(7, 3, rng=1))
    assert type(net.named_params()) is dict  # not packed: nothing was moved
    base = held if held.base is None else held.base
    assert any(base is a for a in (*first.params.values(), *first.grads.values()))
    net.named_params()["0.b"][...] = 2.0  # and the held array is still the live one
    if held.base is not None:
        np.testing.assert_array_equal(held, 2.0)


def test_a_custom_layer_keeping_its_own_reference_is_not_packed():
    class Scale(Linear):
        def __init__(self):
            super().__init__(2, 2, rng=0)
            self.W = self.params["W"]  # an attribute of its own: moving W would strand it

    net = Sequential(Scale(), Tanh())
    assert type(net.named_params()) is dict
    assert net.layers[0].W is net.named_params()["0.W"]


@pytest.mark.parametrize("protocol", [2, 5])
def test_an_unpickled_network_with_its_optimizer_packs_again(protocol):
    # protocol 5 rebuilds large arrays over their pickled bytes (base is not None); those bytes
    # belong to the array alone, so it may still move
    from softgrad.optim import SGD

    net = build_mlp(100, [64], 5, rng=0)
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(net.named_params(), net.named_grads())
    net2, opt2 = pickle.loads(pickle.dumps((net, opt), protocol=protocol))
    assert isinstance(net2.named_params(), ParamDict)
    opt2.step(net2.named_params(), net2.named_grads())
    assert opt2._flat is not None

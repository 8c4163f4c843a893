"""The parameter store (softgrad.nn.store): built with the Sequential, views whoever holds what."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, Linear, ReLU, Sequential, Tanh, build_mlp
from softgrad.nn.store import ParamDict, ParamStore
from softgrad.optim import SGD, Adam
from softgrad.training import fit


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
    assert isinstance(params, ParamDict) and params.store is not None
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
    assert params.store.layout[1] == ("0.b", 35, 42, (7,))


def test_backward_writes_into_the_gradient_buffer():
    net = _net(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 5))
    net.forward(x)
    net.backward(np.ones((4, 3)), input_grad=False)
    grads = net.named_grads()
    for (start, size), grad in zip(_intervals(grads.flat, grads), grads.values(), strict=True):
        assert grad.base is grads.flat
        np.testing.assert_array_equal(grads.flat[start : start + size], grad.ravel())
    h = net.layers[1]._y  # the hidden activations
    np.testing.assert_allclose(grads["2.W"], h.T @ np.ones((4, 3)))
    np.testing.assert_allclose(grads["2.b"], [4.0, 4.0, 4.0])


def _train(hold):
    """Train a small MLP; ``hold(layers)`` runs between building the layers and the net."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.intp) + (X[:, 2] > 1)
    layers = [Linear(6, 16, rng=0), ReLU(), Linear(16, 3, rng=1)]
    held = hold(layers)
    net = Sequential(*layers)
    history = fit(net, CrossEntropyLoss(), SGD(lr=0.1, momentum=0.9), X, y, epochs=3, rng=0)
    weights = {k: v.copy() for k, v in net.named_params().items()}
    return weights, (history.train_loss, history.train_acc), held


@pytest.mark.parametrize(
    "hold",
    [
        lambda layers: layers[0].params["b"],
        lambda layers: layers[2].params["b"][1:],  # a view of it
        lambda layers: layers[0].grads["W"],
        lambda layers: dict(layers[2].params),
    ],
    ids=["bias", "view-of-bias", "gradient", "a-copy-of-the-dict"],
)
def test_holding_an_array_before_building_changes_no_number(hold):
    weights, losses, _ = _train(lambda layers: None)
    held_weights, held_losses, held = _train(hold)
    assert held is not None
    assert held_losses == losses
    for key, value in weights.items():
        np.testing.assert_array_equal(held_weights[key], value, err_msg=key)


def test_an_array_held_from_before_is_a_detached_copy():
    first = Linear(5, 7, rng=0)
    held = first.params["b"]
    net = Sequential(first, ReLU(), Linear(7, 3, rng=1))
    assert first.params["b"] is not held and first.params["b"].base is net.named_params().flat
    net.named_params()["0.b"][...] = 2.0
    np.testing.assert_array_equal(held, 0.0)  # training or edits no longer reach it
    held[...] = 5.0
    np.testing.assert_array_equal(net.named_params()["0.b"], 2.0)


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
def test_an_edited_dict_no_longer_claims_the_store(edit):
    params = _net().named_params()
    assert params.store is not None
    edit(params)
    assert params.store is None


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda d: d.pop("missing"), KeyError),
        (lambda d: d.__delitem__("missing"), KeyError),
        (lambda d: d.update(5), TypeError),
        (lambda d: d.__ior__(5), TypeError),
    ],
    ids=["pop", "del", "update", "ior"],
)
def test_a_refused_edit_keeps_the_store(call, error):
    # the dict disowned its store before the refusal: every later step went array by array
    params = _net().named_params()
    with pytest.raises(error):
        call(params)
    assert params.store is not None


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.pop("missing", None),
        lambda d: d.setdefault("0.W"),
        lambda d: d.update({"0.W": d["0.W"]}),
    ],
    ids=["pop-default", "setdefault-present", "update-same"],
)
def test_an_edit_that_changes_nothing_keeps_the_store(call):
    params = _net().named_params()
    call(params)
    assert params.store is not None


def test_scaling_a_gradient_in_place_keeps_the_flat_step():
    # grads[key] *= 0.5 puts the same view back through __setitem__: it counted as an edit,
    # and every later step went array by array
    net = _net(np.float64)
    net.forward(np.ones((2, 5)))
    net.backward(np.ones((2, 3)))
    grads = net.named_grads()
    expected = grads["0.W"] * 0.5
    grads["0.W"] *= 0.5
    assert grads.store is not None
    np.testing.assert_array_equal(net.named_grads()["0.W"], expected)
    opt = SGD(lr=0.1)
    opt.step(net.named_params(), grads)
    assert opt._flat is not None


def test_an_array_assigned_later_is_copied_into_the_store():
    net = _net()
    flat = net.named_params().flat
    replacement = np.full(3, 4.0, dtype=np.float32)
    net.layers[2].params["b"] = replacement
    params = net.named_params()
    assert params.flat is flat  # the same store: the values were copied in
    assert net.layers[2].params["b"] is params["2.b"] and params["2.b"].base is flat
    np.testing.assert_array_equal(params["2.b"], 4.0)


def test_a_layer_that_assigns_fresh_gradients_is_trained_on_them():
    class FreshGrads(Linear):  # assigns a new dict of new arrays on every backward
        def backward(self, grad_y, input_grad=True):
            out = super().backward(grad_y, input_grad)
            self.grads = {k: v.copy() for k, v in self.grads.items()}
            return out

    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    nets = [Sequential(cls(5, 3, rng=0, dtype=np.float64)) for cls in (Linear, FreshGrads)]
    for net in nets:
        opt = SGD(lr=0.1, momentum=0.9)
        for _ in range(3):
            net.forward(x)
            net.backward(g)
            opt.step(net.named_params(), net.named_grads())
        assert opt._flat is not None  # the flat path, on the gradients the layer assigned
    np.testing.assert_array_equal(nets[1].named_params()["0.W"], nets[0].named_params()["0.W"])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: (lambda shared: Sequential(shared, Tanh(), shared))(Linear(3, 3, rng=0)),
            ValueError,
            "Sequential: each layer must appear once; got the Linear at 2 again after 0",
        ),
        (
            lambda: Sequential(Linear(2, 2, dtype=np.float32), Linear(2, 2, dtype=np.float64)),
            ValueError,
            "Sequential: parameters must share one dtype; got 0.W float32, .*1.W float64",
        ),
    ],
    ids=["shared-layer", "mixed-dtypes"],
)
def test_what_cannot_be_stored_raises_when_built(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_tied_weights_raise():
    first, second = Linear(3, 3, rng=0), Linear(3, 3, rng=1)
    second.params["W"] = first.params["W"]
    with pytest.raises(ValueError, match=r"must not share memory; got '0\.W' and '1\.W'"):
        Sequential(first, second)


def test_weights_tied_after_the_store_was_built_raise_as_before():
    # the tie was copied into the store and cut without a word: the two trained apart
    first, second = Linear(3, 3, rng=0), Linear(3, 3, rng=1)
    net = Sequential(first, second)
    second.params["W"] = first.params["W"]
    with pytest.raises(ValueError, match=r"must not share memory; got '0\.W' and '1\.W'"):
        net.named_params()


def test_a_new_view_of_a_parameters_own_memory_is_put_back_in_the_same_store():
    net = _net()
    flat = net.named_params().flat
    weights = net.layers[0].params["W"]
    net.layers[0].params["W"] = weights[:]  # the same values, another array object
    params = net.named_params()
    assert params.flat is flat and net.layers[0].params["W"] is params["0.W"]
    np.testing.assert_array_equal(params["0.W"], weights)


def test_a_layer_keeping_an_attribute_over_its_parameters_raises():
    class Scale(Linear):
        def __init__(self):
            super().__init__(2, 2, rng=0)
            self.W = self.params["W"]  # forward would go on reading this array after the move

    class Window(Linear):  # parameters as a view of a buffer of its own
        def __init__(self):
            super().__init__(3, 2, rng=0)
            self.buffer = np.zeros((4, 2), dtype=np.float32)
            self.params["W"] = self.buffer[:3]

    with pytest.raises(ValueError, match=r"Scale at 0 must read its parameters from self\.params"):
        Sequential(Scale(), Tanh())
    with pytest.raises(ValueError, match="attribute 'buffer' over the memory of 'W'"):
        Sequential(Tanh(), Window())


def test_a_network_without_parameters_has_an_empty_store():
    params = Sequential(ReLU(), Tanh()).named_params()
    assert params == {} and params.store is not None and params.flat.size == 0


def test_a_nested_sequential_uses_a_window_of_the_outer_store():
    inner = Sequential(Linear(2, 3, rng=0), ReLU(), Linear(3, 2, rng=1))
    outer = Sequential(Linear(4, 2, rng=2), inner)
    params = outer.named_params()
    assert list(params) == ["0.W", "0.b", "1.0.W", "1.0.b", "1.2.W", "1.2.b"]
    inner_params = inner.named_params()
    assert inner_params["0.W"] is params["1.0.W"]
    assert inner_params.flat.base is params.flat and inner_params.flat.size == 6 + 3 + 6 + 2
    assert _intervals(params.flat, inner_params)[0] == (10, 6)


def test_a_slice_uses_a_window_of_the_parent_store():
    net = _net()
    head = net[2:]
    assert head.layers[0] is net.layers[2]
    params = head.named_params()
    assert list(params) == ["0.W", "0.b"] and params["0.W"] is net.named_params()["2.W"]
    assert params.flat.base is net.named_params().flat and params.flat.size == 24
    opt = SGD(lr=1.0)
    head.named_grads()["0.b"][...] = 1.0
    opt.step(params, head.named_grads())  # the flat path on the window updates the parent
    np.testing.assert_array_equal(net.named_params()["2.b"], -1.0)


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda net: pickle.loads(pickle.dumps(net))])
def test_a_copy_has_its_own_store(clone):
    net = _net()
    twin = clone(net)
    params, twin_params = net.named_params(), twin.named_params()
    assert twin_params.flat is not params.flat
    assert twin.layers[0].params["W"] is twin_params["0.W"]
    twin_params["0.W"][...] = 5.0
    assert twin_params.flat[0] == 5.0
    assert not np.any(params["0.W"] == 5.0)


def test_astype_builds_a_new_store_of_the_converted_arrays():
    net = build_mlp(4, [3], 2, rng=0)
    old = net.named_params()
    w = old["0.W"].copy()
    net.astype(np.float64)
    params = net.named_params()
    assert params.flat.dtype == np.float64 and params["0.W"].base is params.flat
    np.testing.assert_array_equal(params["0.W"], w.astype(np.float64))
    assert params.store is not old.store


def test_a_dict_from_before_astype_is_refused_by_the_flat_step():
    net = build_mlp(4, [3], 2, rng=0)
    params, grads = net.named_params(), net.named_grads()
    net.astype(np.float64)
    with pytest.raises(RuntimeError, match=r"SGD.step: params must be the network's current"):
        SGD(lr=0.1).step(params, grads)


def _train_steps(net, opt, x, target, n):
    loss = CrossEntropyLoss()
    for _ in range(n):
        loss.forward(net.forward(x), target)
        net.backward(loss.backward(), input_grad=False)
        opt.step(net.named_params(), net.named_grads())


@pytest.mark.parametrize("protocol", [2, 5])
def test_an_unpickled_network_with_its_optimizer_trains_on_as_the_original(protocol):
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((32, 100)).astype(np.float32), rng.integers(0, 5, 32)
    net, opt = build_mlp(100, [64], 5, rng=0), Adam(lr=0.01)
    _train_steps(net, opt, x, target, 2)
    net2, opt2 = pickle.loads(pickle.dumps((net, opt), protocol=protocol))
    grads = net2.named_grads()  # no gradients pickled: zeros, in the new store
    assert not np.any(grads.flat) and net2[0].grads["W"].base is grads.flat
    _train_steps(net, opt, x, target, 3)
    _train_steps(net2, opt2, x, target, 3)
    assert opt2._flat is not None and opt2._flat.store is net2.named_params().store
    assert opt2.state_dict()["step.0.W"] == 5
    # the same code path on the same machine: the same numbers, bit for bit
    np.testing.assert_array_equal(net2.named_params().flat, net.named_params().flat)
    np.testing.assert_array_equal(net2.named_grads().flat, net.named_grads().flat)


@pytest.mark.parametrize(
    ("grad", "got"), [(np.zeros(3, np.float32), r"got \(3,\)"), ([0.0, 0.0], "got list")]
)
def test_a_gradient_that_cannot_take_its_parameters_place_is_named(grad, got):
    # NumPy's "could not broadcast input array from shape (3,) into shape (2,)" named nothing
    layer = Linear(3, 2, rng=0)
    layer.grads["b"] = grad
    with pytest.raises(
        ValueError, match=rf"gradient '1\.b' must be an ndarray of its .* \(2,\).*{got}"
    ):
        Sequential(ReLU(), layer)


def test_a_gradient_set_to_none_starts_from_zeros():
    layer = Linear(3, 2, rng=0)
    layer.grads["b"] = None
    net = Sequential(layer)
    np.testing.assert_array_equal(net.named_grads()["0.b"], [0.0, 0.0])
    assert layer.grads["b"] is net.named_grads()["0.b"]


def test_buffers_are_adopted_only_where_every_array_already_is():
    net = build_mlp(3, [4], 2, rng=0)
    store = net.named_params().store
    owners = [(key, net[int(key[0])], key[2:]) for key in net.named_params()]
    adopted = ParamStore(owners, buffers=(store.params, store.grads))
    assert adopted.params is store.params and adopted.grads is store.grads
    with pytest.raises(ValueError, match=r"ParamStore: buffers must hold 26 scalars each"):
        ParamStore(owners, buffers=(store.params[:-1], store.grads[:-1]))
    elsewhere = np.zeros_like(store.params), np.zeros_like(store.grads)
    with pytest.raises(ValueError, match=r"ParamStore: 'W' must be the view of \[0:12\]"):
        ParamStore(owners, buffers=elsewhere)


def test_a_parameter_replaced_by_another_shape_is_named_as_a_possible_cause():
    # the message blamed the gradient alone, which the user had not touched
    net = Sequential(Linear(4, 5, rng=0))
    net.named_params()
    net[0].params["W"] = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match=r"got \(4, 5\) \(or the parameter was replaced by an "):
        net.named_params()

"""An edited ``named_params()`` / ``named_grads()`` dict (a frozen bias left out, a gradient
clipped) held across steps follows the network as an unedited one does: an array put in a
layer's place is copied into the store before the step, and a dict of a store the network has
replaced is refused. The step updated the store's old views: an assigned weight's step was lost
at the next ``named_params()``, and a gradient put in ``layer.grads`` took every later backward
while each step moved the weights by the old one."""

import numpy as np
import pytest

from softgrad import nn, optim


def _run():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    first = nn.Linear(4, 5, rng=1, dtype=np.float64)
    net = nn.Sequential(first, nn.ReLU(), nn.Linear(5, 3, rng=2, dtype=np.float64))
    params, grads = net.named_params(), net.named_grads()
    params.pop("0.b")  # frozen: the docs' way, edit the dicts
    grads.pop("0.b")
    loss = nn.CrossEntropyLoss()

    def backward():
        loss.forward(net.forward(X), y)
        net.backward(loss.backward())

    return net, params, grads, backward


def test_a_weight_assigned_between_steps_is_the_one_stepped():
    net, params, grads, backward = _run()
    opt = optim.SGD(lr=0.1)
    backward()
    opt.step(params, grads)
    new = np.random.default_rng(3).standard_normal((4, 5))
    net.layers[0].params["W"] = new.copy()
    backward()
    g = net.layers[0].grads["W"].copy()
    opt.step(params, grads)
    np.testing.assert_allclose(net.named_params()["0.W"], new - 0.1 * g, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(net.layers[0].params["W"], net.named_params()["0.W"])


def test_a_gradient_assigned_in_a_layer_gives_way_to_the_next_backward():
    net, params, grads, backward = _run()
    opt = optim.SGD(lr=0.1)
    backward()
    opt.step(params, grads)
    net.layers[0].grads["W"] = np.clip(net.layers[0].grads["W"], -1e-3, 1e-3)  # a new array
    for _ in range(3):
        before = net.layers[0].params["W"].copy()
        backward()
        g = net.layers[0].grads["W"].copy()
        opt.step(params, grads)
        np.testing.assert_allclose(
            before - net.layers[0].params["W"], 0.1 * g, rtol=1e-12, atol=1e-15
        )


@pytest.mark.parametrize(
    "change",
    [
        lambda net: net.astype(np.float32),
        lambda net: net.layers.__setitem__(2, nn.Linear(5, 3, rng=7, dtype=np.float64)),
        lambda net: net.layers[0].params.__setitem__("W", np.zeros((4, 6))),
    ],
    ids=["astype", "layer_replaced", "new_shape"],
)
def test_an_edited_dict_of_a_replaced_store_is_refused(change):
    net, params, grads, backward = _run()
    opt = optim.SGD(lr=0.1)
    backward()
    opt.step(params, grads)
    change(net)
    before = {key: np.copy(value) for key, value in params.items()}
    match = r"^SGD\.step: params must be the network's current parameters; got the dicts of a "
    with pytest.raises(RuntimeError, match=match):
        opt.step(params, grads)
    for key, value in before.items():  # nothing stepped
        np.testing.assert_array_equal(params[key], value, err_msg=key)


def test_an_edited_dict_of_the_users_own_arrays_is_stepped_as_given():
    # a shadow set of weights (every entry replaced): it speaks for no store, so a change of
    # the network is none of its business (it was refused once edited dicts synced their store)
    net, *_ = _run()
    shadow = net.named_params()
    for key in list(shadow):
        shadow[key] = shadow[key].copy()
    gradients = {key: np.ones_like(value) for key, value in shadow.items()}
    net.layers.append(nn.ReLU())
    expected = {key: value - 0.1 for key, value in shadow.items()}
    optim.SGD(lr=0.1).step(shadow, gradients)
    for key, value in expected.items():
        np.testing.assert_array_equal(shadow[key], value, err_msg=key)


def test_a_plain_dict_is_stepped_as_given():
    # dict(...) keeps no store: its entries are what the optimizer updates, as documented
    net, params, grads, backward = _run()
    plain_params, plain_grads = dict(params), dict(grads)
    backward()
    net.layers[0].params["W"] = np.ones((4, 5))
    view = plain_params["0.W"]
    expected = view - 0.1 * plain_grads["0.W"]
    optim.SGD(lr=0.1).step(plain_params, plain_grads)
    np.testing.assert_array_equal(view, expected)
    np.testing.assert_array_equal(net.layers[0].params["W"], np.ones((4, 5)))

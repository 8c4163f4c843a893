"""What a pickled, deep-copied or copied layer holds (Layer.__getstate__ and its Notes).

A pickle holds parameters, configuration, mode and rng state, never the forward cache (after
``forward(X)`` a Linear holds a view of every row of X) nor the gradients, which come back as
zeros. ``copy.deepcopy`` keeps both, as torch's deepcopy keeps ``.grad``; ``copy.copy`` shares.
What a layer declares as its cache (``_cache_attrs``) is all that pickling and ``astype`` drop.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from softgrad.nn import (
    CrossEntropyLoss,
    Dropout,
    Layer,
    Linear,
    LogisticLoss,
    NLLLoss,
    ReLU,
    Sequential,
    Softmax,
    build_mlp,
)
from softgrad.optim import Adam


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


def _trained_step(net, rng):
    """One forward and backward on random rows: every cache and gradient filled."""
    x = rng.standard_normal((64, net[0].in_features)).astype(np.float32)
    y = net.forward(x)
    net.backward(rng.standard_normal(y.shape).astype(np.float32))
    return x


def test_a_pickled_network_holds_neither_the_rows_it_saw_nor_its_gradients():
    net = build_mlp(20, [16], 4, rng=0, dropout=0.5)
    x = _trained_step(net, np.random.default_rng(1))
    blob = pickle.dumps(net)
    assert x[0].tobytes() not in blob  # the first Linear caches (a view of) x
    assert net.named_grads()["0.W"].tobytes() not in blob
    for layer in _roundtrip(net).layers:
        assert all(getattr(layer, name, None) is None for name in ("_x", "_y", "_mask"))


def test_a_pickled_network_is_as_small_after_a_forward_as_before():
    # 10,000 rows of 784 float32: 31 MB of input, 10 MB of hidden output, were pickled with it
    net = build_mlp(784, [256], 10, rng=0)
    before = len(pickle.dumps(net))
    x = np.random.default_rng(2).standard_normal((10_000, 784)).astype(np.float32)
    net.forward(x)
    after = len(pickle.dumps(net))
    params = sum(a.nbytes for a in net.named_params().values())
    # what differs is the input shape Linear keeps (a tuple of ints), not an array
    assert before < params + 4096 and after - before < 100, (before, after, params)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_an_unpickled_layer_has_zero_gradients_of_its_shape_and_dtype(dtype):
    layer = Linear(3, 2, rng=0, dtype=dtype)
    layer.forward(np.ones((4, 3), dtype=dtype))
    layer.backward(np.ones((4, 2), dtype=dtype))
    twin = _roundtrip(layer)
    assert twin.grads.keys() == layer.grads.keys()
    for name, grad in twin.grads.items():
        assert grad.shape == layer.grads[name].shape and grad.dtype == dtype
        assert not np.any(grad), (name, grad)
    for name, param in layer.params.items():
        np.testing.assert_array_equal(twin.params[name], param)
    with pytest.raises(RuntimeError, match="forward must be called before backward"):
        twin.backward(np.ones((4, 2), dtype=dtype))


def test_an_unpickled_layer_computes_what_the_original_computes():
    layer = Linear(3, 2, rng=0, dtype=np.float64)
    x, grad_y = np.arange(12.0).reshape(4, 3), np.ones((4, 2))
    layer.forward(x)
    twin = _roundtrip(layer)
    np.testing.assert_array_equal(twin.forward(x), layer.forward(x))
    np.testing.assert_array_equal(twin.backward(grad_y), layer.backward(grad_y))
    for name in layer.grads:
        np.testing.assert_array_equal(twin.grads[name], layer.grads[name])


def test_a_pickled_dropout_keeps_its_mode_and_its_rng_state():
    layer = Dropout(0.3, rng=5)
    layer.forward(np.ones(50))
    twin = _roundtrip(layer)
    assert twin._mask is None and twin.p == 0.3
    np.testing.assert_array_equal(twin.forward(np.ones(50)), layer.forward(np.ones(50)))
    assert _roundtrip(layer.eval()).training is False


@pytest.mark.parametrize(
    ("loss", "target"),
    [
        (CrossEntropyLoss(), np.array([0, 2, 1])),
        (NLLLoss(), np.array([0, 2, 1])),
        (LogisticLoss(), np.eye(3)),
    ],
)
def test_a_pickled_loss_holds_no_logits_or_targets(loss, target):
    logits = np.random.default_rng(3).standard_normal((3, 3))
    x = np.log(Softmax().forward(logits)) if isinstance(loss, NLLLoss) else logits
    loss.forward(x, target)
    blob = pickle.dumps(loss)
    assert x.tobytes() not in blob
    with pytest.raises(RuntimeError, match="forward must be called before backward"):
        pickle.loads(blob).backward()


def test_deepcopy_keeps_the_gradients_and_the_forward_cache():
    net = build_mlp(6, [5], 3, rng=0)
    rng = np.random.default_rng(4)
    _trained_step(net, rng)
    twin = copy.deepcopy(net)
    grads, twin_grads = net.named_grads(), twin.named_grads()
    assert twin_grads.flat is not grads.flat
    np.testing.assert_array_equal(twin_grads.flat, grads.flat)
    assert np.any(twin_grads.flat)
    grad_y = rng.standard_normal((64, 3)).astype(np.float32)  # backward with no new forward
    np.testing.assert_array_equal(twin.backward(grad_y), net.backward(grad_y))
    np.testing.assert_array_equal(twin.named_grads().flat, net.named_grads().flat)


def test_copy_shares_the_arrays_and_the_cache():
    layer = Linear(3, 2, rng=0)
    layer.forward(np.ones((4, 3), dtype=np.float32))
    layer.backward(np.ones((4, 2), dtype=np.float32))
    twin = copy.copy(layer)
    assert twin is not layer and twin._x is layer._x
    assert twin.grads["W"] is layer.grads["W"] and twin.params["W"] is layer.params["W"]


class _Scaled(Layer):
    """A user layer: a private constant array (``_scale``) and a declared cache (``_x``)."""

    _cache_attrs = ("_x",)

    def __init__(self):
        super().__init__()
        self._scale = np.array([1.0, 2.0, 3.0])
        self._offset = np.array([0.5, 0.5, 0.5])  # a private array it does not declare
        self._x = None

    def forward(self, x):
        self._x = x
        return x * self._scale + self._offset

    def backward(self, grad_y, input_grad=True):
        self._check_forward_done(self._x)
        return grad_y * self._scale


@pytest.mark.parametrize("clone", [_roundtrip, copy.deepcopy])
def test_a_user_layers_private_arrays_survive_and_only_its_declared_cache_goes(clone):
    net = Sequential(Linear(3, 3, rng=0, dtype=np.float64), ReLU(), _Scaled())
    x = np.ones((2, 3))
    y = net.forward(x)
    twin = clone(net)
    np.testing.assert_array_equal(twin[2]._scale, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(twin[2]._offset, [0.5, 0.5, 0.5])
    assert (twin[2]._x is None) == (clone is _roundtrip)
    np.testing.assert_array_equal(twin.forward(x), y)


def test_astype_keeps_a_user_layers_private_arrays_and_drops_its_declared_cache():
    # every private array was dropped: the constants too, and forward then raised TypeError
    net = Sequential(Linear(3, 3, rng=0), _Scaled())
    x = np.ones((2, 3))
    net.forward(x.astype(np.float32))
    net.astype(np.float64)
    assert net[1]._x is None
    np.testing.assert_array_equal(net[1]._offset, [0.5, 0.5, 0.5])
    y = net[0].forward(x) * [1.0, 2.0, 3.0] + 0.5
    np.testing.assert_array_equal(net.forward(x), y)


def _old_pickle(layer):
    """What pickle.loads made of a layer pickled before Layer.__getstate__ existed: its whole
    ``__dict__``, gradients and forward cache included."""
    old = type(layer).__new__(type(layer))
    old.__setstate__(copy.deepcopy(dict(vars(layer))))
    return old


def test_a_layer_pickled_with_its_gradients_and_cache_loads_as_saved():
    layer = Linear(3, 2, rng=0, dtype=np.float64)
    layer.forward(np.arange(6.0).reshape(2, 3))
    layer.backward(np.ones((2, 2)))
    old = _old_pickle(layer)
    for name in layer.grads:
        np.testing.assert_array_equal(old.grads[name], layer.grads[name])
    np.testing.assert_array_equal(old.backward(np.ones((2, 2))), layer.backward(np.ones((2, 2))))
    assert _roundtrip(old)._x is None  # pickled again, by the new rule


def test_a_network_pickled_with_its_gradients_puts_them_in_its_store_and_trains_on():
    net, opt = build_mlp(8, [6], 3, rng=0), Adam(lr=0.01)
    rng = np.random.default_rng(6)
    _trained_step(net, rng)
    opt.step(net.named_params(), net.named_grads())
    # what Sequential.__getstate__ returned before: its dict without the store, each layer
    # pickled with its whole dict (gradients and forward cache)
    state = {k: v for k, v in vars(net).items() if k not in ("_store", "_store_layers")}
    state = {**state, "_pairs": None, "layers": [_old_pickle(layer) for layer in net.layers]}
    old = Sequential.__new__(Sequential)
    old.__setstate__(state)
    old_opt = _roundtrip(opt)
    grads = old.named_grads()
    np.testing.assert_array_equal(grads.flat, net.named_grads().flat)
    assert old[0].grads["W"].base is grads.flat
    for network, optimizer in ((net, opt), (old, old_opt)):
        optimizer.step(network.named_params(), network.named_grads())
        _trained_step(network, np.random.default_rng(7))
        optimizer.step(network.named_params(), network.named_grads())
    np.testing.assert_array_equal(old.named_params().flat, net.named_params().flat)


def test_a_gradient_set_to_none_is_pickled_as_none():
    layer = Linear(3, 2, rng=0)
    layer.grads["b"] = None  # the store starts such a gradient from zeros
    twin = _roundtrip(layer)
    assert twin.grads["b"] is None and not np.any(twin.grads["W"])
    assert Sequential(twin).named_grads()["0.b"].shape == (2,)


def test_a_networks_parameter_dicts_pickle():
    # the store watches its Sequentials through weak references, which do not pickle: a
    # pickled net.params raised TypeError
    net = Sequential(Linear(3, 2, rng=0), Sequential(Linear(2, 2, rng=1)))
    for got in (net.params, net.named_params(), net.named_grads(), net.layers[1].named_params()):
        copy = pickle.loads(pickle.dumps(got))
        assert copy.keys() == got.keys()
        for key in got:
            np.testing.assert_array_equal(copy[key], got[key])

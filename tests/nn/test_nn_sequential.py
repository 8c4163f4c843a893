"""Sequential and build_mlp: qualified names, live params, backward, configs, a hand-computed
network, and the textbook Softmax + NLL(probabilities) network against the fused loss."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck
from softgrad.nn import (
    LAYERS,
    CrossEntropyLoss,
    Dropout,
    Identity,
    Linear,
    LogSoftmax,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    build_mlp,
)


def small_net(rng, dtype=np.float64):
    return Sequential(
        Linear(3, 5, rng=rng, dtype=dtype), Tanh(), Linear(5, 4, rng=rng, dtype=dtype)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3,), (6, 3), (2, 4, 3)])
def test_sequential_passes_gradcheck(shape, dtype, rng):
    net = small_net(rng, dtype)
    for name in ("0.b", "2.b"):
        net.named_params()[name][...] = rng.standard_normal(net.named_params()[name].shape)
    result = gradcheck(net, rng.standard_normal(shape).astype(dtype), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "0.W", "0.b", "2.W", "2.b"]
    assert net.named_params()["0.W"].dtype == dtype  # gradcheck worked on a copy


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
def test_mlp_with_every_activation_and_dropout_passes_gradcheck(activation, rng):
    net = build_mlp(4, [6, 5], 3, activation=activation, dropout=0.2, rng=rng, dtype=np.float64)
    # non-zero biases: with b = 0, a row whose inputs were all dropped would sit exactly on
    # ReLU's kink (z = b = 0), where central differences give 1/2 and no derivative exists
    for name, param in net.named_params().items():
        if name.endswith(".b"):
            param[...] = rng.uniform(0.1, 0.5, param.shape)
    x = rng.standard_normal((5, 4))
    result = gradcheck(net, x, rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == ["x", "0.W", "0.b", "3.W", "3.b", "6.W", "6.b"]


def test_named_params_are_the_live_arrays_and_grads_share_keys(rng):
    net = small_net(rng)
    params = net.named_params()
    assert list(params) == ["0.W", "0.b", "2.W", "2.b"]
    assert params["0.W"] is net[0].params["W"] and params["2.b"] is net[2].params["b"]
    assert net.params.keys() == params.keys()
    x = rng.standard_normal((2, 3))
    before = net.forward(x)
    params["2.b"] += 1.0  # in place, as an optimizer does
    np.testing.assert_allclose(net.forward(x), before + 1.0)
    net.backward(np.ones((2, 4)))
    grads = net.named_grads()
    assert grads.keys() == params.keys() and net.grads.keys() == params.keys()
    assert grads["0.W"] is net[0].grads["W"]
    np.testing.assert_allclose(grads["2.b"], [2.0, 2.0, 2.0, 2.0])


def test_input_grad_false_gives_the_same_param_grads_and_returns_none(rng):
    net = Sequential(Dropout(0.0), *small_net(rng).layers)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 4))
    net.forward(x)
    grad_x = net.backward(g)
    expected = {name: grad.copy() for name, grad in net.named_grads().items()}
    net.forward(x)
    assert net.backward(g, input_grad=False) is None
    for name, grad in net.named_grads().items():
        np.testing.assert_array_equal(grad, expected[name])
    assert grad_x.shape == x.shape


def test_len_getitem_iter_train_eval(rng):
    net = build_mlp(3, [4], 2, dropout=0.5, rng=rng)
    assert len(net) == 4 and isinstance(net[2], Dropout) and list(net) == net.layers
    assert net.eval() is net
    assert not net.training and not any(layer.training for layer in net)
    x = np.ones((2, 3), dtype=np.float32)
    # no dropout in eval: the network is its other layers, the Dropout passes x through as is
    expected = x
    for layer in net:
        if not isinstance(layer, Dropout):
            expected = layer.forward(expected)
    np.testing.assert_array_equal(net.forward(x), expected)
    net.train()
    assert net.training and all(layer.training for layer in net)


def test_slicing_shares_the_layers_and_pickling_round_trips(rng):
    net = small_net(rng)
    head = net[:2]
    assert isinstance(head, Sequential) and head.layers == net.layers[:2]
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(net[2].forward(head.forward(x)), net.forward(x))
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.forward(x), net.forward(x))
    assert clone.named_params()["0.W"] is not net.named_params()["0.W"]


def test_backward_before_forward_raises_naming_the_layer(rng):
    with pytest.raises(RuntimeError, match=r"Linear\.backward: forward must be called"):
        small_net(rng).backward(np.ones((1, 4)))


def test_get_config_from_config_round_trip_through_json(rng):
    net = Sequential(
        Linear(4, 3, rng=rng, init="glorot"),
        Sigmoid(),
        Dropout(0.25),
        Linear(3, 3, bias=False, rng=rng),
        Identity(),
        Sequential(ReLU(), Softmax(axis=-1)),
        LogSoftmax(axis=0),
    )
    config = json.loads(json.dumps(net.get_config()))
    assert config["layers"][0] == {
        "type": "Linear",
        "config": {
            "in_features": 4,
            "out_features": 3,
            "bias": True,
            "init": "glorot",
            "dtype": "float32",
        },
    }
    clone = Sequential.from_config(config, rng=0)
    assert clone.get_config() == config
    assert [type(layer) for layer in clone] == [type(layer) for layer in net]
    assert list(clone.named_params()) == ["0.W", "0.b", "3.W"]
    for name, array in net.named_params().items():
        clone.named_params()[name][...] = array
    x = rng.standard_normal((2, 4)).astype(np.float32)
    net.eval(), clone.eval()
    np.testing.assert_array_equal(clone.forward(x), net.forward(x))


def test_from_config_is_seeded_by_rng():
    config = build_mlp(3, [4], 2, rng=0).get_config()
    a, b = Sequential.from_config(config, rng=5), Sequential.from_config(config, rng=5)
    for name, array in a.named_params().items():
        np.testing.assert_array_equal(array, b.named_params()[name])


def test_from_config_errors():
    with pytest.raises(ValueError, match="config must be a dict with a 'layers' list"):
        Sequential.from_config({"layer": []})
    with pytest.raises(ValueError, match="'type' one of"):
        Sequential.from_config({"layers": [{"type": "Conv2d", "config": {}}]})
    with pytest.raises(ValueError, match="config of a Linear must be its constructor arguments"):
        Sequential.from_config({"layers": [{"type": "Linear", "config": {"size": 3}}]})
    with pytest.raises(TypeError, match="layers must be Layer instances"):
        Sequential(Linear(2, 2), "relu")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"type": "Linear", "config": [3, 2]}, r"a Linear must be a dict .*; got \[3, 2\]"),
        ({"type": "ReLU", "config": "inplace"}, "a ReLU must be a dict .*; got 'inplace'"),
        ({"type": ["Linear"], "config": {}}, r"'type' one of .*; got \{'type': \['Linear'\]"),
    ],
)
def test_from_config_names_a_malformed_layer_entry(spec, match):
    # these met dict()'s "cannot convert dictionary update sequence element #0 to a sequence"
    # and "unhashable type: 'list'", a model file's fault told in Python's words
    with pytest.raises(ValueError, match=match):
        Sequential.from_config({"layers": [spec]})


def test_layers_registry_names_every_layer_class():
    assert set(LAYERS) == {
        "Linear",
        "ReLU",
        "Tanh",
        "Sigmoid",
        "Identity",
        "Softmax",
        "LogSoftmax",
        "Dropout",
        "Sequential",
    }
    assert all(cls.__name__ == name for name, cls in LAYERS.items())


def test_astype_converts_every_parameter_and_gradient(rng):
    net = build_mlp(3, [4], 2, rng=rng)
    assert net.astype(np.float64) is net
    assert all(a.dtype == np.float64 for a in net.named_params().values())
    assert all(a.dtype == np.float64 for a in net.named_grads().values())
    assert net.forward(np.ones((1, 3), dtype=np.float32)).dtype == np.float64
    assert net.get_config()["layers"][0]["config"]["dtype"] == "float64"


def test_build_mlp_structure_and_defaults(rng):
    net = build_mlp(10, [8, 6], 3, activation="tanh", dropout=0.1, rng=rng)
    assert [type(layer).__name__ for layer in net] == [
        "Linear",
        "Tanh",
        "Dropout",
        "Linear",
        "Tanh",
        "Dropout",
        "Linear",
    ]
    assert net[0].init == "glorot" and build_mlp(10, [8], 3, rng=0)[0].init == "he"
    assert build_mlp(10, [8], 3, rng=0, init="glorot")[0].init == "glorot"
    assert [type(layer) for layer in build_mlp(5, [], 2, rng=0)] == [Linear]
    assert isinstance(build_mlp(5, [3], 2, activation="logistic", rng=0)[1], Sigmoid)
    shapes = {k: v.shape for k, v in net.named_params().items()}
    assert shapes == {
        "0.W": (10, 8),
        "0.b": (8,),
        "3.W": (8, 6),
        "3.b": (6,),
        "6.W": (6, 3),
        "6.b": (3,),
    }
    assert all(a.dtype == np.float32 for a in net.named_params().values())


def test_build_mlp_errors():
    with pytest.raises(ValueError, match="activation must be one of"):
        build_mlp(3, [4], 2, activation="gelu")
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\); got 1\.0"):
        build_mlp(3, [4], 2, dropout=1.0)
    with pytest.raises(ValueError, match="hidden_sizes must hold positive ints"):
        build_mlp(3, [4, 0], 2)
    with pytest.raises(TypeError, match="hidden_sizes must be a sequence of ints"):
        build_mlp(3, 4, 2)
    with pytest.raises(ValueError, match="n_classes must be a positive int"):
        build_mlp(3, [4], 0)


def test_hand_computed_tiny_network():
    # x = [1, 2] -> Linear(W1, b1) -> ReLU -> Linear(W2, b2) -> cross-entropy with target 1
    net = Sequential(Linear(2, 2, dtype=np.float64), ReLU(), Linear(2, 2, dtype=np.float64))
    p = net.named_params()
    p["0.W"][...] = [[1.0, -1.0], [1.0, 0.5]]
    p["0.b"][...] = [0.0, -1.0]
    p["2.W"][...] = [[1.0, 0.0], [2.0, 5.0]]
    p["2.b"][...] = [np.log(3.0) - 3.0, 0.0]
    x = np.array([[1.0, 2.0]])
    loss = CrossEntropyLoss()
    # z = x @ W1 + b1 = [1*1 + 2*1 + 0, 1*(-1) + 2*0.5 - 1] = [3, -1]; h = relu(z) = [3, 0]
    # logits = h @ W2 + b2 = [3*1 + 0*2, 3*0 + 0*5] + [ln 3 - 3, 0] = [ln 3, 0]
    logits = net.forward(x)
    np.testing.assert_allclose(logits, [[np.log(3.0), 0.0]], rtol=1e-15, atol=1e-15)
    # softmax = [3/4, 1/4]; loss = -log(1/4) = ln 4
    assert loss.forward(logits, np.array([1])) == pytest.approx(np.log(4.0), rel=1e-15)
    # dL/dlogits = softmax - onehot(1) = [0.75, -0.75]
    grad_logits = loss.backward()
    np.testing.assert_allclose(grad_logits, [[0.75, -0.75]], rtol=1e-15)
    grad_x = net.backward(grad_logits)
    g = net.named_grads()
    # dW2 = h^T g = [[3*0.75, 3*(-0.75)], [0, 0]]; db2 = g
    np.testing.assert_allclose(g["2.W"], [[2.25, -2.25], [0.0, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(g["2.b"], [0.75, -0.75], rtol=1e-15)
    # dL/dh = g @ W2^T = [0.75*1 - 0.75*0, 0.75*2 - 0.75*5] = [0.75, -2.25]
    # dL/dz = dL/dh * (z > 0) = [0.75, 0]
    # dW1 = x^T dL/dz = [[1*0.75, 0], [2*0.75, 0]]; db1 = [0.75, 0]
    np.testing.assert_allclose(g["0.W"], [[0.75, 0.0], [1.5, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(g["0.b"], [0.75, 0.0], rtol=1e-15)
    # dL/dx = dL/dz @ W1^T = [0.75*1 + 0*(-1), 0.75*1 + 0*0.5] = [0.75, 0.75]
    np.testing.assert_allclose(grad_x, [[0.75, 0.75]], rtol=1e-15)


def blobs(rng, n_per_class=30):
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    X = np.concatenate([c + 0.7 * rng.standard_normal((n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return X, y


def sgd_train(net, loss, X, y, steps, lr):
    """Full-batch gradient descent with plain in-place updates; returns the loss history."""
    history = []
    for _ in range(steps):
        history.append(loss.forward(net.forward(X), y))
        net.backward(loss.backward(), input_grad=False)
        for name, param in net.named_params().items():
            param -= lr * net.named_grads()[name]
    return history


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_textbook_softmax_nll_net_matches_the_fused_net_and_both_train(dtype, rng):
    X, y = blobs(rng)
    X = X.astype(dtype)
    fused = build_mlp(2, [8], 3, rng=1, dtype=dtype)
    textbook = Sequential(*build_mlp(2, [8], 3, rng=1, dtype=dtype).layers, Softmax())
    fused_loss, textbook_loss = CrossEntropyLoss(), NLLLoss(log_input=False)
    # same loss and same gradients at the start
    assert fused_loss.forward(fused.forward(X), y) == pytest.approx(
        textbook_loss.forward(textbook.forward(X), y), rel=1e-6 if dtype == np.float32 else 1e-13
    )
    fused.backward(fused_loss.backward())
    textbook.backward(textbook_loss.backward())
    rtol, atol = (2e-4, 1e-6) if dtype == np.float32 else (1e-10, 1e-13)
    for name, grad in fused.named_grads().items():
        np.testing.assert_allclose(textbook.named_grads()[name], grad, rtol=rtol, atol=atol)
    # both train, along the same trajectory
    fused_history = sgd_train(fused, fused_loss, X, y, steps=150, lr=0.5)
    textbook_history = sgd_train(textbook, textbook_loss, X, y, steps=150, lr=0.5)
    assert fused_history[-1] < 0.2 * fused_history[0]
    assert textbook_history[-1] < 0.2 * textbook_history[0]
    np.testing.assert_allclose(
        textbook_history, fused_history, rtol=1e-3 if dtype == np.float32 else 1e-9
    )
    accuracy = np.mean(fused.forward(X).argmax(axis=1) == y)
    assert accuracy > 0.95


def test_textbook_net_gradient_is_exact_for_confident_predictions():
    # logits far apart: p(target) = e^-30 ~ 9e-14, far below 1 but above tiny, the gradient
    # through 1/p and softmax_vjp is still exactly softmax - onehot
    logits = np.array([[30.0, 0.0, -5.0]])
    softmax, nll = Softmax(), NLLLoss(log_input=False)
    nll.forward(softmax.forward(logits), np.array([1]))
    grad = softmax.backward(nll.backward())
    expected = softmax.forward(logits) - np.array([[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
def test_a_float32_training_step_stays_float32(activation, rng):
    net = build_mlp(5, [7, 6], 3, activation=activation, dropout=0.3, rng=rng)
    loss = CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=0.1)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    logits = net.forward(x)
    loss.forward(logits, rng.integers(0, 3, 8))
    grad_logits = loss.backward()
    grad_x = net.backward(grad_logits)
    assert logits.dtype == grad_logits.dtype == grad_x.dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in net.named_grads().values())


# ---- ReLU(inplace=True) on a Linear's fresh output (what build_mlp builds) ------------------


def _layer_by_layer(layers, x, grad_y):
    """Forward and backward through ``layers`` one public call at a time (nothing in place)."""
    out = x
    for layer in layers:
        out = layer.forward(out)
    grad = grad_y
    for layer in reversed(layers):
        grad = layer.backward(grad)
    return (
        out,
        grad,
        {f"{i}.{n}": g.copy() for i, l in enumerate(layers) for n, g in l.grads.items()},
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_relus_give_the_layer_by_layer_results_bit_for_bit(dtype):
    def layers(inplace):
        return [
            Linear(6, 5, rng=0, dtype=dtype),
            ReLU(inplace=inplace),
            Linear(5, 4, rng=1, dtype=dtype),
            ReLU(inplace=inplace),
            Linear(4, 3, rng=2, dtype=dtype),
        ]

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6)).astype(dtype)
    grad_y = rng.standard_normal((8, 3)).astype(dtype)
    out_ref, gx_ref, grads_ref = _layer_by_layer(layers(False), x, grad_y)
    net = Sequential(*layers(True))
    x_before, g_before = x.copy(), grad_y.copy()
    out = net.forward(x)
    gx = net.backward(grad_y)
    np.testing.assert_array_equal(out, out_ref)
    np.testing.assert_array_equal(gx, gx_ref)
    for key, value in grads_ref.items():
        np.testing.assert_array_equal(net.named_grads()[key], value)
    np.testing.assert_array_equal(x, x_before)  # the caller's arrays are never overwritten
    np.testing.assert_array_equal(grad_y, g_before)


def test_a_relu_works_in_place_only_when_asked():
    x = np.array([[-1.0, 2.0]])
    Sequential(ReLU(), ReLU()).forward(x)
    np.testing.assert_array_equal(x, [[-1.0, 2.0]])
    y = Sequential(ReLU(inplace=True)).forward(x)
    assert y is x
    np.testing.assert_array_equal(x, [[0.0, 2.0]])
    frozen = np.array([-3.0, 1.0])
    frozen.flags.writeable = False
    np.testing.assert_array_equal(ReLU(inplace=True).forward(frozen), [0.0, 1.0])  # a new array
    relus = [layer for layer in build_mlp(3, [4, 4], 2, rng=0) if isinstance(layer, ReLU)]
    assert [relu.inplace for relu in relus] == [True, True]
    assert relus[0].get_config() == {"inplace": True} and ReLU().get_config() == {}
    with pytest.raises(TypeError, match="ReLU: inplace must be a bool; got 1"):
        ReLU(inplace=1)


def test_subclasses_run_their_own_forward_and_backward():
    class Leaky(ReLU):  # a forward and backward of its own
        def forward(self, x):
            self._y = np.where(x > 0, x, 0.1 * x)
            return self._y

        def backward(self, grad_y, input_grad=True):
            return np.where(self._y > 0, grad_y, 0.1 * grad_y)

    class Keeping(Linear):  # keeps its output: a following layer must not overwrite it
        def forward(self, x):
            self.kept = super().forward(x)
            return self.kept

    x = np.array([[1.0, -2.0]])
    net = Sequential(Keeping(2, 2, rng=0, dtype=np.float64), Leaky())
    out = net.forward(x)
    z = net.layers[0].kept
    np.testing.assert_array_equal(out, np.where(z > 0, z, 0.1 * z))
    assert (z < 0).any()  # the Linear's own output was left as it was
    grad = net.backward(np.ones_like(out))
    W = net.layers[0].params["W"]
    np.testing.assert_allclose(grad, (np.where(z > 0, 1.0, 0.1)) @ W.T)


def test_a_nested_sequential_is_indented_in_the_repr():
    net = Sequential(Linear(2, 2, rng=0), Sequential(Tanh(), Sequential(ReLU())))
    assert repr(net).splitlines() == [
        "Sequential(",
        "  (0): Linear(in_features=2, out_features=2, bias=True, init='he', dtype='float32')",
        "  (1): Sequential(",
        "    (0): Tanh()",
        "    (1): Sequential(",
        "      (0): ReLU()",
        "    )",
        "  )",
        ")",
    ]


def test_build_mlp_takes_what_scikit_learn_takes_and_names_the_rest():
    # an array of sizes was refused; np.int64(0) dropout too while 0 passed; a list activation
    # met Python's "unhashable type: 'list'"
    net = build_mlp(3, np.array([4, 5]), 2, dropout=np.int64(0), rng=0)
    assert [layer.get_config().get("out_features") for layer in net] == [4, None, 5, None, 2]
    with pytest.raises(ValueError, match=r"activation must be one of .*; got \['relu'\]"):
        build_mlp(3, [4], 2, activation=["relu"])
    with pytest.raises(TypeError, match="hidden_sizes must be a sequence of ints"):
        build_mlp(3, np.array([[4]]), 2)
    with pytest.raises(ValueError, match="build_mlp: init must be one of 'he', 'glorot', None"):
        build_mlp(3, [4], 2, init="xavier")


@pytest.mark.parametrize("nested", [False, True])
def test_an_in_place_relu_last_leaves_the_callers_grad_y_as_it_was(nested):
    # the docstring says grad_y is never written; a ReLU(inplace=True) last zeroed it
    tail = [Linear(3, 2, rng=0), ReLU(inplace=True)]
    net = Sequential(Tanh(), Sequential(*tail)) if nested else Sequential(*tail)
    x = np.array([[-1.0, 2.0, 0.5], [3.0, -2.0, 1.0]], dtype=np.float32)
    y = net.forward(x)
    grad_y = np.ones((2, 2), dtype=np.float32)
    grad_x = net.backward(grad_y)
    np.testing.assert_array_equal(grad_y, np.ones((2, 2)))
    assert (y > 0).any() and (y == 0).any()  # both branches of the mask
    reference = Sequential(*(Tanh(),) * nested, Linear(3, 2, rng=0), ReLU())
    reference.forward(x)
    np.testing.assert_array_equal(grad_x, reference.backward(np.ones((2, 2), dtype=np.float32)))

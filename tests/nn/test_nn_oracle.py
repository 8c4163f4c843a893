"""PyTorch as the oracle for every layer's forward and backward (copied weights), the loss
options, and the Sequential MLP."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import (
    CrossEntropyLoss,
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

pytestmark = pytest.mark.oracle
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}


def torch_vjp(torch, fn, x, g):
    """torch's output and dL/dx for L = sum(g * fn(x))."""
    xt = torch.tensor(x, requires_grad=True)
    yt = fn(xt)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "identity"])
def test_elementwise_layers_match_torch(name, shape, dtype, rng):
    torch = pytest.importorskip("torch")
    layer = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "identity": Identity}[name]()
    fn = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "identity": lambda t: t * 1,
    }[name]
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y_ref, grad_ref = torch_vjp(torch, fn, x, g)
    np.testing.assert_allclose(layer.forward(x), y_ref, **TOL[dtype])
    np.testing.assert_allclose(layer.backward(g), grad_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_layers_match_torch_on_every_axis(log, shape, dtype, rng):
    torch = pytest.importorskip("torch")
    x = (4 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    for axis in range(-len(shape), len(shape)):
        layer = LogSoftmax(axis=axis) if log else Softmax(axis=axis)
        fn = torch.log_softmax if log else torch.softmax
        y_ref, grad_ref = torch_vjp(torch, lambda t, axis=axis, fn=fn: fn(t, dim=axis), x, g)
        np.testing.assert_allclose(layer.forward(x), y_ref, **TOL[dtype])
        np.testing.assert_allclose(layer.backward(g), grad_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4,), (6, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch_with_copied_weights(bias, shape, dtype, rng):
    torch = pytest.importorskip("torch")
    layer = Linear(4, 3, bias=bias, rng=rng, dtype=dtype)
    ref = torch.nn.Linear(
        4, 3, bias=bias, dtype=torch.float32 if dtype == np.float32 else torch.float64
    )
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.params["W"].T))  # torch stores (out, in)
        if bias:
            layer.params["b"][...] = rng.standard_normal(3)
            ref.bias.copy_(torch.tensor(layer.params["b"]))
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal((*shape[:-1], 3)).astype(dtype)
    y_ref, grad_ref = torch_vjp(torch, ref, x, g)
    np.testing.assert_allclose(layer.forward(x), y_ref, **TOL[dtype])
    np.testing.assert_allclose(layer.backward(g), grad_ref, **TOL[dtype])
    np.testing.assert_allclose(layer.grads["W"], ref.weight.grad.numpy().T, **TOL[dtype])
    if bias:
        np.testing.assert_allclose(layer.grads["b"], ref.bias.grad.numpy(), **TOL[dtype])


CE_OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"weight": [0.5, 2.0, 1.0, 3.0]},
    {"ignore_index": 2},
    {"label_smoothing": 0.3},
    {
        "weight": [0.5, 2.0, 1.0, 3.0],
        "ignore_index": 1,
        "label_smoothing": 0.1,
        "reduction": "mean",
    },
    {"weight": [0.5, 2.0, 1.0, 3.0], "label_smoothing": 0.2, "reduction": "sum"},
]


def torch_loss(torch, fn, logits, target, options, g):
    xt = torch.tensor(logits, requires_grad=True)
    kwargs = dict(options)
    if kwargs.get("weight") is not None:
        kwargs["weight"] = torch.tensor(np.asarray(kwargs["weight"], dtype=logits.dtype))
    if "ignore_index" in kwargs and kwargs["ignore_index"] is None:
        del kwargs["ignore_index"]
    tt = torch.tensor(target)
    loss = fn(xt, tt, **kwargs)
    loss.backward(torch.tensor(g, dtype=loss.dtype))
    return loss.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=str)
def test_cross_entropy_loss_matches_torch(options, dtype, rng):
    torch = pytest.importorskip("torch")
    logits = (3 * rng.standard_normal((7, 4))).astype(dtype)
    target = np.array([0, 1, 2, 3, 2, 1, 0])
    g = rng.standard_normal(7 if options.get("reduction") == "none" else ()).astype(dtype)
    ref_loss, ref_grad = torch_loss(
        torch, torch.nn.functional.cross_entropy, logits, target, options, g
    )
    loss = CrossEntropyLoss(**options)
    np.testing.assert_allclose(loss.forward(logits, target), ref_loss, **TOL[dtype])
    np.testing.assert_allclose(loss.backward(g), ref_grad, **TOL[dtype])


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.25}], ids=str)
def test_cross_entropy_loss_with_probability_targets_and_class_axis_1_matches_torch(options, rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((3, 4, 2))  # (N, C, T): classes on axis 1, as torch wants
    target = np.moveaxis(
        np.exp(rng.standard_normal((3, 2, 4))) / np.exp(rng.standard_normal((3, 2, 4))).sum(), 2, 1
    )
    target = target / target.sum(axis=1, keepdims=True)
    ref_loss, ref_grad = torch_loss(
        torch, torch.nn.functional.cross_entropy, logits, target, options, np.array(1.0)
    )
    loss = CrossEntropyLoss(axis=1, **options)
    np.testing.assert_allclose(loss.forward(logits, target), ref_loss, rtol=1e-12)
    np.testing.assert_allclose(loss.backward(), ref_grad, rtol=1e-12, atol=1e-14)
    index_target = rng.integers(0, 4, (3, 2))
    ref_loss, ref_grad = torch_loss(
        torch, torch.nn.functional.cross_entropy, logits, index_target, options, np.array(1.0)
    )
    np.testing.assert_allclose(loss.forward(logits, index_target), ref_loss, rtol=1e-12)
    np.testing.assert_allclose(loss.backward(), ref_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"weight": [1.0, 3.0, 2.0], "ignore_index": 0},
    ],
    ids=str,
)
def test_nll_loss_matches_torch_on_log_probabilities_and_probabilities(options, dtype, rng):
    torch = pytest.importorskip("torch")
    logits = (2 * rng.standard_normal((6, 3))).astype(dtype)
    target = np.array([0, 1, 2, 2, 1, 0])
    g = rng.standard_normal(6 if options.get("reduction") == "none" else ()).astype(dtype)
    # the torch reference: log_softmax -> nll_loss, differentiated to the logits
    ref_loss, ref_grad = torch_loss(
        torch,
        lambda x, t, **kw: torch.nn.functional.nll_loss(torch.log_softmax(x, 1), t, **kw),
        logits,
        target,
        options,
        g,
    )
    log_path = Sequential(LogSoftmax())
    loss = NLLLoss(**options)
    np.testing.assert_allclose(
        loss.forward(log_path.forward(logits), target), ref_loss, **TOL[dtype]
    )
    np.testing.assert_allclose(log_path.backward(loss.backward(g)), ref_grad, **TOL[dtype])
    # the textbook path: Softmax -> NLL on probabilities; float32 loses a few ulps in log(p)
    prob_path = Sequential(Softmax())
    loss = NLLLoss(log_input=False, **options)
    tol = {"rtol": 1e-4, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(loss.forward(prob_path.forward(logits), target), ref_loss, **tol)
    np.testing.assert_allclose(prob_path.backward(loss.backward(g)), ref_grad, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_matches_torch_sequential_with_copied_weights(activation, dtype, rng):
    torch = pytest.importorskip("torch")
    net = build_mlp(6, [8, 5], 4, activation=activation, rng=rng, dtype=dtype)
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[activation]
    ref = torch.nn.Sequential(
        torch.nn.Linear(6, 8, dtype=torch_dtype),
        act(),
        torch.nn.Linear(8, 5, dtype=torch_dtype),
        act(),
        torch.nn.Linear(5, 4, dtype=torch_dtype),
    )
    with torch.no_grad():
        for index in (0, 2, 4):
            net.named_params()[f"{index}.b"][...] = rng.standard_normal(net[index].out_features)
            ref[index].weight.copy_(torch.tensor(net[index].params["W"].T))
            ref[index].bias.copy_(torch.tensor(net[index].params["b"]))
    x = rng.standard_normal((10, 6)).astype(dtype)
    target = rng.integers(0, 4, 10)
    loss = CrossEntropyLoss(label_smoothing=0.1)
    value = loss.forward(net.forward(x), target)
    grad_x = net.backward(loss.backward())
    xt = torch.tensor(x, requires_grad=True)
    ref_value = torch.nn.functional.cross_entropy(
        ref(xt), torch.tensor(target), label_smoothing=0.1
    )
    ref_value.backward()
    tol = {"rtol": 2e-5, "atol": 1e-6} if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(value, ref_value.item(), **tol)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), **tol)
    grads = net.named_grads()
    for index in (0, 2, 4):
        np.testing.assert_allclose(grads[f"{index}.W"], ref[index].weight.grad.numpy().T, **tol)
        np.testing.assert_allclose(grads[f"{index}.b"], ref[index].bias.grad.numpy(), **tol)


def test_dropout_in_eval_matches_torch_and_training_masks_have_torch_scaling(rng):
    torch = pytest.importorskip("torch")
    from softgrad.nn import Dropout

    x = rng.standard_normal((20, 30))
    ref = torch.nn.Dropout(0.3)
    ref.eval()
    np.testing.assert_array_equal(
        Dropout(0.3, rng=0).eval().forward(x), ref(torch.tensor(x)).numpy()
    )
    # in training both keep x / (1 - p) where kept: compare on torch's own kept set
    ref.train()
    torch.manual_seed(0)
    y_ref = ref(torch.tensor(x)).numpy()
    kept = y_ref != 0
    np.testing.assert_allclose(y_ref[kept], x[kept] / 0.7, rtol=1e-12)
    y = Dropout(0.3, rng=0).forward(x)
    np.testing.assert_allclose(y[y != 0], x[y != 0] / 0.7, rtol=1e-12)

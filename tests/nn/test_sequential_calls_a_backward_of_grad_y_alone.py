"""A layer written as CONVENTIONS writes one, ``backward(grad_y) -> grad_x``, trains in a
Sequential: Sequential.backward always passed ``input_grad=``, and fit's first batch failed
with "backward() got an unexpected keyword argument 'input_grad'"."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad import nn, optim


class Double(nn.Layer):
    """y = 2 x, its backward taking grad_y alone."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_y):
        return 2 * grad_y


class DoubleAsked(nn.Layer):
    """The same layer, its backward taking input_grad."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_y, input_grad=True):
        return 2 * grad_y if input_grad else None


def _trained(middle, kind):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 5)).astype(np.float32), np.arange(40) % 3
    net = nn.Sequential(nn.Linear(5, 6, rng=1), middle, nn.ReLU(), nn.Linear(6, 3, rng=2))
    loss, opt = nn.CrossEntropyLoss(), optim.SGD(lr=0.1)
    if kind == "fit":
        softgrad.fit(net, loss, opt, X, y, epochs=2, batch_size=8, rng=0)
    else:
        for _ in range(3):
            loss.forward(net.forward(X), y)
            grad_x = net.backward(loss.backward())
            assert grad_x is not None and grad_x.shape == X.shape
            opt.step(net.named_params(), net.named_grads())
    return net.layers[0].params["W"]


@pytest.mark.parametrize("kind", ["fit", "by-hand"])
def test_trains_as_the_layer_that_takes_input_grad(kind):
    np.testing.assert_array_equal(_trained(Double(), kind), _trained(DoubleAsked(), kind))


def test_a_backward_replaced_on_the_instance_is_read_as_it_is():
    layer = DoubleAsked()
    layer.backward = lambda grad_y: 3 * grad_y  # a hook taking grad_y alone
    net = nn.Sequential(nn.Linear(2, 2, rng=0), layer)
    net.forward(np.ones((1, 2)))
    grad_x = net.backward(np.ones((1, 2)))
    W = net.layers[0].params["W"].astype(np.float64)
    # float32 sums of two products: within a few ulps of the terms' size, not of the result
    scale = 3 * np.abs(W).sum(axis=1).max()
    np.testing.assert_allclose(grad_x, 3 * np.ones((1, 2)) @ W.T, atol=4 * 2**-23 * scale, rtol=0)


def test_a_backward_without_a_signature_is_given_input_grad():
    # a callable inspect cannot read (a C function, a compiled one) is called as every
    # softgrad layer's backward is: grad_y and input_grad
    class NoSignature:
        __signature__ = property(lambda self: (_ for _ in ()).throw(ValueError("none")))

        def __call__(self, grad_y, input_grad=True):
            return 4 * grad_y

    layer = DoubleAsked()
    layer.backward = NoSignature()
    net = nn.Sequential(layer)
    net.forward(np.ones((1, 2)))
    np.testing.assert_array_equal(net.backward(np.ones((1, 2))), 4 * np.ones((1, 2)))

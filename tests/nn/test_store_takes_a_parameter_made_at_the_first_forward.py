"""A layer that makes its parameter at its first forward (its shape known only then) joins the
parameter store: a layer that held none when the Sequential was built was never counted, so
the store never saw the new one, named_params() missed it and no optimizer moved it."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad import nn, optim


class LazyScale(nn.Layer):
    """y = x * g, with g (D,) made at the first forward."""

    def forward(self, x):
        if "g" not in self.params:
            self.params["g"] = np.ones(x.shape[1], x.dtype)
            self.grads["g"] = np.zeros(x.shape[1], x.dtype)
        self._x = x
        return x * self.params["g"]

    def backward(self, grad_y, input_grad=True):
        self.grads["g"][...] = (grad_y * self._x).sum(axis=0)
        return grad_y * self.params["g"] if input_grad else None


def _network(rng):
    return nn.Sequential(nn.Linear(6, 8, rng=rng), nn.ReLU(), LazyScale(), nn.Linear(8, 3, rng=rng))


def _data(rng):
    return rng.normal(size=(32, 6)).astype(np.float32), rng.integers(0, 3, 32)


def test_the_readme_loop_moves_it(rng):
    X, y = _data(rng)
    net, loss, opt = _network(rng), nn.CrossEntropyLoss(), optim.SGD(lr=0.5)
    for _ in range(3):
        loss.forward(net.forward(X), y)
        net.backward(loss.backward())
        opt.step(net.named_params(), net.named_grads())
    assert list(net.named_params()) == ["0.W", "0.b", "2.g", "3.W", "3.b"]
    assert np.abs(net.layers[2].params["g"] - 1).max() > 1e-3
    assert net.named_params()["2.g"] is net.layers[2].params["g"]


@pytest.mark.parametrize("make", [lambda: optim.SGD(lr=0.3, momentum=0.9), optim.Adam])
def test_fit_moves_it_and_keeps_its_state(rng, make):
    X, y = _data(rng)
    net, opt = _network(rng), make()
    softgrad.fit(net, nn.CrossEntropyLoss(), opt, X, y, epochs=3, batch_size=8, rng=0)
    g = net.layers[2].params["g"]
    assert np.abs(g - 1).max() > 1e-3
    assert "2.g" in net.named_params() and net.named_params()["2.g"] is g

"""fit trains on a loss subclass's own forward and backward: it ran the inherited fused
forward_backward of CrossEntropyLoss (or LogisticLoss) instead, training the base class's loss
while the history's validation loss was the subclass's, without a word."""

from __future__ import annotations

import numpy as np
import pytest

import softgrad
from softgrad import nn, optim
from softgrad.nn.layer import overridden_below


class TenfoldCE(nn.CrossEntropyLoss):
    """Ten times the cross-entropy, by its own forward and backward."""

    def forward(self, logits, target):
        return 10.0 * super().forward(logits, target)

    def backward(self, grad_y=None, input_grad=True):
        return 10.0 * super().backward(grad_y, input_grad)


class Tenfold:
    """A mixin scaling a loss's forward and backward by ten."""

    def forward(self, logits, target):
        return 10.0 * super().forward(logits, target)

    def backward(self, grad_y=None, input_grad=True):
        return 10.0 * super().backward(grad_y, input_grad)


class MixedIn(Tenfold, nn.CrossEntropyLoss):
    """The mixin listed before the base class: its methods are the loss's."""


class OwnFused(TenfoldCE):
    """A subclass that brings its own forward_backward too: that one is the loss."""

    def forward_backward(self, logits, target, weight=None):
        return super().forward_backward(logits, target, weight)


def _weights(loss):
    X = np.random.default_rng(5).normal(size=(48, 5)).astype(np.float32)
    y = np.arange(48) % 3
    net = nn.Sequential(nn.Linear(5, 7, rng=1), nn.Tanh(), nn.Linear(7, 3, rng=2))
    softgrad.fit(net, loss, optim.SGD(lr=0.05), X, y, epochs=2, batch_size=16, rng=0)
    return net.layers[0].params["W"].copy(), X, y


def _by_hand(loss, X, y):
    """The same run written out: fit's order of batches, the loss's own methods."""
    net = nn.Sequential(nn.Linear(5, 7, rng=1), nn.Tanh(), nn.Linear(7, 3, rng=2))
    opt = optim.SGD(lr=0.05)
    order = np.random.default_rng(0)
    for _ in range(2):
        idx = order.permutation(len(X))
        for start in range(0, len(X), 16):
            rows = idx[start : start + 16]
            loss.forward(net.forward(X[rows]), y[rows])
            net.backward(loss.backward(), input_grad=False)
            opt.step(net.named_params(), net.named_grads())
    return net.layers[0].params["W"]


@pytest.mark.parametrize("tenfold", [TenfoldCE, MixedIn], ids=["subclass", "mixin"])
def test_fit_trains_the_subclass_loss(tenfold):
    W_fit, X, y = _weights(tenfold())
    W_plain, _, _ = _weights(nn.CrossEntropyLoss())
    assert np.abs(W_fit - W_plain).max() > 1e-2  # ten times the gradient moved it elsewhere
    tol = 64 * np.finfo(np.float32).eps
    np.testing.assert_allclose(W_fit, _by_hand(tenfold(), X, y), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        (nn.CrossEntropyLoss(), False),
        (TenfoldCE(), True),
        (OwnFused(), False),
        (MixedIn(), True),
        (nn.LogisticLoss(), False),
    ],
    ids=["base", "own-methods", "own-fused-too", "mixin", "logistic"],
)
def test_which_losses_keep_their_fused_step(loss, expected):
    assert overridden_below(loss, "forward_backward") is expected

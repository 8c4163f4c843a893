"""fit refuses a network that ends in a Softmax before CrossEntropyLoss or NLLLoss: it trained
softmax(softmax(z)) without a word (validation accuracy 0.66 against 0.84 on the digits),
while evaluate and predict_proba, which take a final Softmax as the head, read the logits."""

from __future__ import annotations

import re

import numpy as np
import pytest

from softgrad import nn
from softgrad.optim import SGD
from softgrad.training import fit

X = np.random.default_rng(0).random((30, 4)).astype(np.float32)
Y = np.arange(30) % 3


def _net(*head):
    return nn.Sequential(nn.Linear(4, 3, rng=0), *head)


@pytest.mark.parametrize(
    ("loss", "fix"),
    [
        (nn.CrossEntropyLoss(), "takes logits and applies the softmax itself: remove the Softmax"),
        (nn.NLLLoss(), "takes log-probabilities: replace the Softmax with LogSoftmax"),
    ],
)
def test_a_final_softmax_is_refused_naming_the_fix(loss, fix):
    model = _net(nn.Softmax())
    before = model.layers[0].params["W"].copy()
    expected = (
        f"fit: model must not end in Softmax (layer 1) for {type(loss).__name__}, which {fix}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}"):
        fit(model, loss, SGD(lr=0.1), X, Y, epochs=1, rng=0)
    np.testing.assert_array_equal(model.layers[0].params["W"], before)  # nothing trained


def _trained_weights(model, loss):
    history = fit(model, loss, SGD(lr=0.1), X, Y, epochs=1, rng=0)
    assert np.isfinite(history.train_loss).all()
    return model.layers[0].params["W"]


def test_the_heads_that_are_right_still_train():
    # logits, and LogSoftmax before NLLLoss (torch's pairing) or CrossEntropyLoss (softmax of
    # log-probabilities is the softmax of the logits): all three take the same steps
    before = _net().layers[0].params["W"].copy()
    plain = _trained_weights(_net(), nn.CrossEntropyLoss())
    assert not np.array_equal(plain, before)  # it trained
    # log_softmax then softmax rounds a few times more than softmax alone, in float32
    tol = 16 * np.finfo(np.float32).eps
    for loss in (nn.NLLLoss(), nn.CrossEntropyLoss()):
        trained = _trained_weights(_net(nn.LogSoftmax()), loss)
        np.testing.assert_allclose(trained, plain, rtol=tol, atol=tol * np.abs(plain).max())
    # a Softmax over the batch axis is part of the network, not a head
    trained = _trained_weights(_net(nn.Softmax(axis=0)), nn.CrossEntropyLoss())
    assert not np.array_equal(trained, before)

"""A network of one output (a logistic unit, trained with LogisticLoss) where one output per
class is read: predict_proba answered 1.0 for every row (a softmax over one logit), Model's
predict class 0, and evaluate "y must hold class indices 0..0"; each now says what to use."""

from __future__ import annotations

import re

import numpy as np
import pytest

from softgrad import Model, nn
from softgrad.preprocessing import Scaler
from softgrad.training import evaluate, predict_logits, predict_proba

X = np.random.default_rng(0).random((6, 2)).astype(np.float32)
Y = np.array([0, 1, 0, 1, 1, 0])


def _logistic():
    return nn.Sequential(nn.Linear(2, 8, rng=0), nn.Tanh(), nn.Linear(8, 1, rng=1))


@pytest.mark.parametrize(
    ("call", "where", "fix"),
    [
        (lambda net: predict_proba(net, X), "predict_proba", "predict_logits gives its logit z"),
        (lambda net: Model(net), "Model", "sigmoid(z) is the probability of class 1"),
        (lambda net: evaluate(net, X, Y), "evaluate", "pass loss=nn.LogisticLoss()"),
    ],
    ids=["predict_proba", "Model", "evaluate"],
)
def test_one_output_is_refused_saying_what_to_use(call, where, fix):
    with pytest.raises(ValueError, match=f"^{where}: model must give one output per class; got 1"):
        call(_logistic())
    with pytest.raises(ValueError, match=re.escape(fix)):
        call(_logistic())


def test_what_the_messages_point_to_works():
    net = _logistic()
    z = predict_logits(net, X)
    assert z.shape == (6, 1)
    loss, accuracy = evaluate(net, X, Y, loss=nn.LogisticLoss())
    assert np.isfinite(loss) and accuracy == np.mean((z[:, 0] > 0) == Y)


def test_model_names_a_network_that_is_not_a_sequential_and_a_scaler_of_another_width():
    with pytest.raises(
        TypeError,
        match=r"^Model: network must be a softgrad.nn.Sequential; got "
        r"Linear \(wrap a single layer: Sequential\(layer\)\)$",
    ):
        Model(nn.Linear(4, 3, rng=0))
    with pytest.raises(
        ValueError,
        match=r"^Model: scaler must scale the network's 4 inputs; got "
        r"a scaler of 5 features$",
    ):
        Model(nn.Sequential(nn.Linear(4, 3, rng=0)), scaler=Scaler(np.zeros(5), np.ones(5)))

"""What every layer's and loss's ``backward`` promises a hand-written training loop: a bool
``input_grad``, and the cached forward pass it differentiates."""

from __future__ import annotations

import re

import numpy as np
import pytest

from softgrad.nn import (
    CrossEntropyLoss,
    Dropout,
    Identity,
    Linear,
    LogisticLoss,
    LogSoftmax,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

_X = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
_TARGET = np.array([0, 2, 1, 2])


def _layers():
    """(name, a layer after its forward pass, its grad_y) for every layer and loss."""
    made = []
    for make in (
        lambda: Linear(3, 3, rng=0, dtype=np.float64),
        ReLU,
        lambda: ReLU(inplace=True),
        Tanh,
        Sigmoid,
        Identity,
        Softmax,
        LogSoftmax,
        lambda: Dropout(0.5, rng=0),
        lambda: Sequential(Linear(3, 3, rng=0, dtype=np.float64), ReLU()),
    ):
        layer = make()
        layer.forward(_X)
        made.append((layer, np.ones((4, 3))))
    for loss, x, target in (
        (CrossEntropyLoss(), _X, _TARGET),
        (NLLLoss(), np.log(np.full((4, 3), 1 / 3)), _TARGET),
        (LogisticLoss(), _X, np.eye(3)[_TARGET]),
    ):
        loss.forward(x, target)
        made.append((loss, None))
    return made


_IDS = [type(layer).__name__ for layer, _ in _layers()]


@pytest.mark.parametrize("value", ["no", 0.0, None, 0, 1, np.array(True), [False]])
@pytest.mark.parametrize("index", range(len(_IDS)), ids=_IDS)
def test_input_grad_must_be_a_bool(index, value):
    # "no" and an array were read as True, None and 0.0 as False: a typo went unnoticed
    layer, grad_y = _layers()[index]
    where = type(layer).__name__
    with pytest.raises(
        TypeError, match=re.escape(f"{where}.backward: input_grad must be a bool; got {value!r}")
    ):
        layer.backward(grad_y, input_grad=value)


@pytest.mark.parametrize("index", range(len(_IDS)), ids=_IDS)
def test_input_grad_takes_numpy_bools_as_python_ones(index):
    layer, grad_y = _layers()[index]
    assert layer.backward(grad_y, input_grad=np.False_) is None
    expected = layer.backward(grad_y, input_grad=True)
    np.testing.assert_array_equal(layer.backward(grad_y, input_grad=np.True_), expected)


def test_backward_assigns_the_gradients_of_the_last_forward():
    # no zero_grad: backward overwrites, and differentiates the latest forward pass
    net = Sequential(Linear(3, 2, rng=0), ReLU(), Linear(2, 2, rng=1)).astype(np.float64)
    first, second = _X[:2], _X[2:] * 2.0
    net.forward(second)
    net.backward(np.ones((2, 2)))
    expected = {key: grad.copy() for key, grad in net.named_grads().items()}
    net.forward(first)
    net.backward(np.full((2, 2), 7.0))
    net.forward(second)
    net.backward(np.ones((2, 2)))
    for key, grad in net.named_grads().items():
        np.testing.assert_array_equal(grad, expected[key], err_msg=key)

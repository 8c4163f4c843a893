"""Inference from several threads on one network (a web server's thread pool): the calls share
evaluation mode, and the network gets its modes back when the last one ends. Each call saved
and restored the modes itself, so a call that ended switched Dropout back on under another
still running (wrong predictions), and the network could stay in evaluation mode for good."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import softgrad
from softgrad.model import Model
from softgrad.nn import Dropout, Layer, Linear, ReLU, Sequential, Softmax
from softgrad.training import predict_proba


def _dropout_model(head=()):
    network = Sequential(
        Linear(64, 128, rng=0), ReLU(), Dropout(0.5, rng=1), Linear(128, 10, rng=2), *head
    )
    return Model(network, list(range(10)))  # its layers in training mode, as built


@pytest.mark.parametrize("head", [(), (Softmax(),)], ids=["logits", "a Softmax head"])
def test_a_call_that_ends_leaves_evaluation_mode_to_one_still_running(rng, head):
    # a network ending in Softmax is run as a new slice of it at every call: the holds are
    # its layers', not the network object's
    model = _dropout_model(head)
    X = rng.random((1000, 64)).astype(np.float32)
    alone = model.map_logits(X, lambda z: z.copy(), batch_size=100)
    # forced order: A enters, B enters, A ends while B is between batches, B ends
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()
    results = {}

    def head_a(z):
        a_in.set()
        b_in.wait(10)
        return z.copy()

    def head_b(z):
        if not b_in.is_set():
            b_in.set()
            a_done.wait(10)
        return z.copy()

    def run_a():
        results["A"] = model.map_logits(X, head_a, batch_size=100)
        a_done.set()

    def run_b():
        a_in.wait(10)
        results["B"] = model.map_logits(X, head_b, batch_size=100)

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # the same path on the same machine as the call made alone: the same bits
    np.testing.assert_array_equal(results["A"], alone)
    np.testing.assert_array_equal(results["B"], alone)
    assert [layer.training for layer in model.network.layers] == [True] * (4 + len(head))


def test_many_threads_predict_as_one_does(rng):
    model = _dropout_model()
    inputs = [rng.random((300 + 37 * k, 64)).astype(np.float32) for k in range(6)]
    alone = [model.predict_proba(X, batch_size=64) for X in inputs]
    for _ in range(20):
        results = [None] * len(inputs)

        def run(k, results=results):
            results[k] = model.predict_proba(inputs[k], batch_size=64)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(inputs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for got, expected in zip(results, alone, strict=True):
            np.testing.assert_array_equal(got, expected)
        assert [layer.training for layer in model.network.layers] == [True] * 4


def test_a_nested_sequential_gets_each_layers_own_mode_back(rng):
    # its layers were all set to the inner Sequential's flag: a Dropout turned off by hand
    # was on again after one prediction
    inner = Sequential(Linear(4, 8, rng=0), ReLU(), Dropout(0.5, rng=1))
    inner.layers[2].eval()
    network = Sequential(inner, Linear(8, 3, rng=2))
    before = [[layer.training for layer in inner.layers], inner.training, network.training]
    predict_proba(network, rng.random((5, 4)))
    after = [[layer.training for layer in inner.layers], inner.training, network.training]
    assert before == after == [[True, True, False], True, True]


def test_fit_still_validates_in_evaluation_mode_and_trains_in_training_mode(rng):
    # evaluation inside fit (its validation) holds the other mode, then gives training back
    from softgrad import nn, optim
    from softgrad.training import Callback

    network = Sequential(Linear(4, 8, rng=0), ReLU(), Dropout(0.5, rng=1), Linear(8, 2, rng=2))
    seen = []

    class Modes(Callback):
        def on_epoch_end(self, state):
            seen.append(network.layers[2].training)

    X, y = rng.normal(size=(64, 4)), rng.integers(0, 2, 64)
    softgrad.fit(
        network,
        nn.CrossEntropyLoss(),
        optim.SGD(lr=0.1),
        X,
        y,
        epochs=3,
        batch_size=16,
        validation_fraction=0.25,
        callbacks=[Modes()],
        rng=0,
    )
    assert seen == [True, True, True] and network.training and network.layers[2].training


def test_a_numpy_bool_mode_comes_back(rng):
    network = Sequential(Linear(4, 8, rng=0), ReLU(), Dropout(0.5, rng=1), Linear(8, 3, rng=2))
    network.layers[2].training = np.True_  # set by hand: not saved, it stayed off
    predict_proba(network, rng.random((5, 4)))
    assert network.layers[2].training


def test_a_layer_refusing_its_mode_leaves_nothing_held_or_switched(rng):
    from softgrad.training.predict import _HOLDS, eval_mode

    class Stubborn(Layer):
        def forward(self, x):
            return x

        def train(self, mode=True):
            raise RuntimeError("no modes here")

    network = Sequential(Linear(4, 4, rng=0), Stubborn())
    with pytest.raises(RuntimeError, match="no modes here"), eval_mode(network):
        pass
    assert network.layers[0].training and not _HOLDS

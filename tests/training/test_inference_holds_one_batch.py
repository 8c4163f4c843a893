"""Batched inference holds one batch of its input at a time: the network's forward caches, which
only backward reads, are dropped after each batch. The first Linear's cache kept the previous
batch (a Model's scaled copy, a ScaledRows batch) alive while the next was made, and the last
batch (a view of X) after the call, so X outlived its caller's last reference."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from softgrad.model import Model
from softgrad.nn import Linear, ReLU, Sequential, build_mlp
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training import evaluate
from softgrad.training.predict import predict_batches, predict_logits, predict_proba


@pytest.fixture(params=["plan", "forward"])
def network(request):
    # a plain fused MLP runs through the ForwardPlan; fuse=False through model.forward
    if request.param == "plan":
        return build_mlp(6, [5], 3, rng=0)
    return Sequential(Linear(6, 5, rng=0), ReLU(), Linear(5, 3, rng=1), fuse=False)


def _rows(n=22):
    return np.random.default_rng(0).standard_normal((n, 6)).astype(np.float32)


def _held(refs):
    return [k for k, ref in enumerate(refs) if ref() is not None]


def test_each_prepared_batch_is_gone_before_the_next_is_made(network):
    made, held = [], []

    def prepare(raw):
        held.append(_held(made))
        batch = raw * np.float32(2)  # a copy of the batch, as a Model's scaling makes
        made.append(weakref.ref(batch))
        return batch

    got = predict_batches(network, _rows(), 8, prepare=prepare)
    assert held == [[], [], []]  # no earlier batch alive when the next one is made
    assert _held(made) == []  # nor after the call
    np.testing.assert_array_equal(got, network.forward(_rows() * np.float32(2)))


def _recording_rows(monkeypatch):
    """The batches a ScaledRows makes, and which earlier ones were alive as each was made."""
    made, held = [], []
    rows = ScaledRows.rows

    def record(self, *args, **kwargs):
        held.append(_held(made))
        batch = rows(self, *args, **kwargs)
        made.append(weakref.ref(batch))
        return batch

    monkeypatch.setattr(ScaledRows, "rows", record)
    return made, held


@pytest.mark.parametrize("infer", ["predict_logits", "predict_proba", "evaluate"])
def test_a_scaled_rows_batch_is_gone_before_the_next_is_made(network, monkeypatch, infer):
    pixels = np.random.default_rng(1).integers(0, 256, (22, 6), dtype=np.uint8)
    X = Scaler.for_range(255).inputs(pixels)
    assert isinstance(X, ScaledRows)
    made, held = _recording_rows(monkeypatch)
    if infer == "evaluate":
        evaluate(network, X, np.arange(22) % 3, batch_size=8)
    else:
        {"predict_logits": predict_logits, "predict_proba": predict_proba}[infer](network, X, 8)
    assert len(made) == 3
    assert held == [[], [], []]
    assert _held(made) == []


CALLS = {
    "predict_logits": lambda net, X: predict_logits(net, X, 8),
    "predict_proba": lambda net, X: predict_proba(net, X, 8),
    "evaluate": lambda net, X: evaluate(net, X, np.arange(len(X)) % 3, batch_size=8),
    "Model.predict": lambda net, X: Model(net).predict(X, batch_size=8),
    "Model.decision_function": lambda net, X: Model(net).decision_function(X, batch_size=8),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_x_is_not_kept_alive_by_the_network_after_the_call(network, call):
    X = _rows()  # float32 and contiguous: each batch is a view of X
    ref = weakref.ref(X)
    CALLS[call](network, X)
    del X
    assert ref() is None, "the network still holds a batch of X"


def test_a_forward_before_inference_still_backpropagates_after_a_new_forward(network):
    # inference drops the caches; a training step's own forward sets them again
    X = _rows(4)
    predict_proba(network, X, 8)
    network.forward(X)
    grad_x = network.backward(np.ones((4, 3), np.float32))
    assert grad_x.shape == (4, 6)

"""Batched inference: same numbers as one big batch, one batch of activations at a time."""

import numpy as np
import pytest

from softgrad.functional import cross_entropy, softmax
from softgrad.nn import CrossEntropyLoss, Sequential, build_mlp
from softgrad.training import evaluate, predict_logits, predict_proba


class _Spy(Sequential):
    """A Sequential that records the largest batch it was asked to forward."""

    max_rows = 0

    def forward(self, x):
        self.max_rows = max(self.max_rows, len(x))
        return super().forward(x)


def _model(dropout=0.0):
    return _Spy(*build_mlp(5, [16], 4, dropout=dropout, rng=0).layers)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1024])
def test_predictions_in_batches_equal_one_big_batch(blobs, batch_size):
    X, _ = blobs
    model = _model()
    full = model.forward(X)
    model.max_rows = 0
    logits = predict_logits(model, X, batch_size=batch_size)
    assert model.max_rows == min(batch_size, len(X))
    assert logits.shape == (300, 4) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, full, rtol=1e-6, atol=1e-6)
    probs = predict_proba(model, X, batch_size=batch_size)
    np.testing.assert_allclose(probs, softmax(full), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_evaluate_matches_the_formula(blobs):
    X, y = blobs
    y = y % 4
    model = _model()
    logits = model.forward(X)
    loss, acc = evaluate(model, X, y, batch_size=50)
    assert model.max_rows == 300  # only the reference forward above was big
    np.testing.assert_allclose(loss, cross_entropy(logits.astype(np.float64), y), rtol=1e-5)
    assert acc == np.mean(logits.argmax(axis=1) == y)
    w = np.random.default_rng(0).uniform(size=len(X))
    loss_w, acc_w = evaluate(model, X, y, CrossEntropyLoss(), batch_size=64, sample_weight=w)
    per_sample = cross_entropy(logits.astype(np.float64), y, reduction="none")
    np.testing.assert_allclose(loss_w, np.sum(w * per_sample) / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(acc_w, np.sum(w * (logits.argmax(axis=1) == y)) / w.sum())


def test_inference_runs_in_eval_mode_and_restores_each_layer(blobs):
    X, y = blobs
    model = _model(dropout=0.5)
    model.layers[0].eval()  # a mixed state must come back as it was
    modes = [layer.training for layer in model.layers]
    a = predict_logits(model, X)
    b = predict_logits(model, X)
    assert np.array_equal(a, b)  # dropout off: deterministic
    evaluate(model, X, y % 4)
    predict_proba(model, X)
    assert [layer.training for layer in model.layers] == modes


def test_empty_input_gives_an_empty_result():
    model = _model()
    X = np.zeros((0, 5), dtype=np.float32)
    assert predict_logits(model, X).shape == (0, 4)
    assert predict_proba(model, X).shape == (0, 4)
    with pytest.raises(ValueError, match="at least one sample"):
        evaluate(model, X, np.zeros(0, dtype=int))


def test_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match=r"predict_logits: X must have shape \(N, D\)"):
        predict_logits(model, np.zeros(5))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        predict_proba(model, np.zeros((2, 5)), batch_size=0)
    with pytest.raises(ValueError, match=r"evaluate: y must have shape \(2,\)"):
        evaluate(model, np.zeros((2, 5)), np.zeros(3, dtype=int))

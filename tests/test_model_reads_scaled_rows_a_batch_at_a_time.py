"""A Model without a scaler predicts on a ScaledRows a batch at a time, as ``predict_proba`` does:
``np.asarray`` made a float copy of every row first (60,000 uint8 Fashion-MNIST images: 185 MB
above the 47 MB stored)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training.predict import predict_logits, predict_proba

METHODS = ["predict_proba", "predict_log_proba", "predict", "decision_function"]


@pytest.fixture
def never_whole(monkeypatch):
    """Fail the test if anything turns a ScaledRows into one float array of all its rows."""

    def refuse(self, dtype=None, copy=None):
        raise AssertionError(f"the whole set was materialised: {self!r}")

    monkeypatch.setattr(ScaledRows, "__array__", refuse)


@pytest.fixture
def rows():
    pixels = np.random.default_rng(0).integers(0, 256, (50, 6), dtype=np.uint8)
    return Scaler.for_range(255).inputs(pixels)


@pytest.mark.parametrize("method", METHODS)
def test_a_model_without_a_scaler_reads_scaled_rows_a_batch_at_a_time(rows, never_whole, method):
    network = build_mlp(6, [5], 3, rng=0)
    model = Model(network, classes=np.array([10, 20, 30]))
    got = getattr(model, method)(rows, batch_size=16)
    logits = predict_logits(network, rows, 16)  # the same batches, the same path
    expected = {
        "predict_proba": predict_proba(network, rows, 16),
        "predict_log_proba": logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)),
        "predict": model.classes[logits.argmax(axis=1)],
        "decision_function": logits,
    }[method]
    if method == "predict_log_proba":
        np.testing.assert_allclose(got, expected, rtol=0, atol=8 * np.finfo(np.float32).eps)
    else:
        np.testing.assert_array_equal(got, expected)


def test_scaled_rows_of_another_width_are_refused(rows, never_whole):
    model = Model(build_mlp(4, [5], 3, rng=0))
    with pytest.raises(ValueError, match=r"Model\.predict: X must have 4 features"):
        model.predict(rows)

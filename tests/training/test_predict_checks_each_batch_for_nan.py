"""Batched inference checks each batch for NaN and inf just before its forward, instead of the
whole input in a pass of its own first, and still names the row of the whole input."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import build_mlp
from softgrad.training import predict
from softgrad.training.predict import predict_batches, predict_logits, predict_proba

INFERENCE = [predict_proba, predict_logits, predict_batches]


@pytest.fixture
def model():
    return build_mlp(6, [5], 3, rng=0)


@pytest.mark.parametrize("infer", INFERENCE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 7, 8, 21])
def test_a_bad_row_in_a_later_batch_is_named_by_its_row_of_x(model, infer, bad, row):
    X = np.ones((22, 6), np.float32)
    X[row, 4] = bad
    with pytest.raises(ValueError, match=rf"X must be finite; got NaN or inf in row {row}$"):
        infer(model, X, batch_size=8)


@pytest.mark.parametrize("infer", INFERENCE, ids=lambda f: f.__name__)
def test_the_check_reads_one_batch_at_a_time(infer, rows_read):
    # no more rows than hidden units: the rows themselves are read, not the first product
    # (test_predict_checks_the_first_product.py)
    model = build_mlp(6, [20], 3, rng=0)
    X = np.ones((20, 6), np.float32)
    expected = model.forward(X)
    got = infer(model, X, batch_size=8)
    assert rows_read == [8, 8, 4]  # never the whole X in a pass of its own
    if infer is predict_logits:
        np.testing.assert_array_equal(got, expected)


def test_a_run_of_the_step_plan_checks_as_the_public_forward_does(model):
    # the plan's forward and the public one see the same batches; neither runs on a bad one
    X = np.ones((10, 6), np.float64)  # another dtype than the model's: cast batch by batch
    X[9, 0] = np.nan
    with pytest.raises(ValueError, match=r"row 9$"):
        predict.predict_proba(model, X, batch_size=4)

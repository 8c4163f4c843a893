"""A Model's inference and ``evaluate`` refuse NaN and inf one batch at a time, as
``predict_proba`` does, naming the row of the whole input; neither reads all of X in a pass of
its own before the batches."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.errors import InputOverflowError
from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.preprocessing import Scaler
from softgrad.training import evaluate

METHODS = ["predict_proba", "predict_log_proba", "predict", "decision_function"]


@pytest.fixture(params=[5, 40], ids=["product-check", "rows-check"])
def network(request):
    # 5 units: a call of 22 rows checks each batch's first product; 40: the rows themselves
    return build_mlp(6, [request.param], 3, rng=0)


def _model(network):
    return Model(network, classes=np.array([10, 20, 30]), scaler=Scaler(1.0, 0.5))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 9, 21])
def test_a_model_names_the_bad_row_of_x(network, method, bad, row):
    X = np.ones((22, 6), np.float32)
    X[row, 2] = bad
    with pytest.raises(
        ValueError, match=rf"Model\.{method}: X must be finite; got NaN or inf in row {row}$"
    ):
        getattr(_model(network), method)(X, batch_size=8)


@pytest.mark.parametrize("method", METHODS)
def test_a_model_reads_no_more_than_each_batch(network, method, rows_read):
    X = np.random.default_rng(0).standard_normal((22, 6)).astype(np.float32)
    model = _model(network)
    got = getattr(model, method)(X, batch_size=8)
    assert rows_read in ([], [8, 8, 6])  # the products alone, or each batch: never all of X
    assert len(got) == 22


def test_a_model_whose_scaling_overflows_finite_rows_names_an_overflow(network):
    # finite raw values, inf once scaled: no NaN or inf in X, an overflow of the model's
    model = Model(network, classes=np.array([10, 20, 30]), scaler=Scaler(0.0, 1e30))
    X = np.ones((22, 6), np.float32)
    X[12, 1] = 1e10
    with pytest.raises(InputOverflowError, match=r"row 12"):
        model.predict_proba(X, batch_size=8)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("row", [0, 9, 21])
def test_evaluate_names_the_bad_row_of_x(network, bad, row):
    X = np.ones((22, 6), np.float32)
    X[row, 3] = bad
    y = np.zeros(22, dtype=np.int64)
    with pytest.raises(
        ValueError, match=rf"^evaluate: X must be finite; got NaN or inf in row {row}$"
    ):
        evaluate(network, X, y, batch_size=8)


def test_evaluate_reads_no_more_than_each_batch(network, rows_read):
    X = np.random.default_rng(1).standard_normal((22, 6)).astype(np.float32)
    loss, acc = evaluate(network, X, np.zeros(22, dtype=np.int64), batch_size=8)
    assert rows_read in ([], [8, 8, 6])
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0


def test_evaluate_refuses_bad_targets_before_a_bad_row_of_x(network):
    # y and sample_weight are checked whole, before the batches; X's values batch by batch
    X = np.ones((22, 6), np.float32)
    X[0, 0] = np.nan
    y = np.zeros(22, dtype=np.int64)
    y[20] = 7  # no class 7 in a network of 3 outputs
    with pytest.raises(ValueError, match="evaluate: y") as caught:
        evaluate(network, X, y, batch_size=8)
    assert "finite" not in str(caught.value)

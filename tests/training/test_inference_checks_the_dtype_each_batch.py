"""Batched inference on float64 rows for a float32 network refuses a value beyond float32
(1e300 would be inf once cast) batch by batch, as it checks NaN and inf, instead of a ``min``
and a ``max`` over the whole input first, and still names the row of the whole input. Finite
rows are cast a batch at a time and give what the float32 copy of X gives, bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest

from softgrad.nn import build_mlp
from softgrad.training import evaluate, predict
from softgrad.training.predict import predict_batches, predict_logits, predict_proba

INFERENCE = [predict_proba, predict_logits, predict_batches]


def _run(infer, model, X, batch_size=8):
    if infer is evaluate:
        return infer(model, X, np.zeros(len(X), np.int64), batch_size=batch_size)
    return infer(model, X, batch_size=batch_size)


@pytest.fixture
def checked_for_fit(monkeypatch):
    """The rows of each array that inference's dtype check read, in call order."""
    seen = []
    real = predict.check_fits_rows

    def record(x, *args, **kwargs):
        seen.append(x.shape[0])
        return real(x, *args, **kwargs)

    monkeypatch.setattr(predict, "check_fits_rows", record)
    return seen


# 5 units: a call of 22 rows reads the first product (test_predict_checks_the_first_product.py);
# 30 units: the rows themselves, before each forward
ROUTES = {"product": 5, "rows": 30}


@pytest.mark.parametrize("infer", [*INFERENCE, evaluate], ids=lambda f: f.__name__)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("value", [1e300, -1e39, np.finfo(np.float64).max])
@pytest.mark.parametrize("row", [0, 9, 21])
def test_a_value_beyond_float32_is_named_by_its_row_of_x(infer, route, value, row):
    model = build_mlp(6, [ROUTES[route]], 3, rng=0)
    X = np.ones((22, 6))
    X[row, 4] = value
    where = "predict_batches" if infer is predict_batches else infer.__name__
    pattern = (
        rf"^{where}: X must fit in float32 .*; got {re.escape(repr(float(value)))} in row {row} "
    )
    with pytest.raises(ValueError, match=pattern):  # no overflow warning first (filterwarnings)
        _run(infer, model, X)


@pytest.mark.parametrize("infer", [*INFERENCE, evaluate], ids=lambda f: f.__name__)
def test_the_dtype_check_reads_one_batch_at_a_time(infer, checked_for_fit):
    model = build_mlp(6, [30], 3, rng=0)  # the rows route: each batch read before its forward
    _run(infer, model, np.ones((22, 6)))
    assert checked_for_fit == [8, 8, 6]  # never the whole X in a pass of its own


@pytest.mark.parametrize("infer", [*INFERENCE, evaluate], ids=lambda f: f.__name__)
def test_rows_that_fit_are_not_read_where_the_product_is(infer, checked_for_fit):
    model = build_mlp(6, [5], 3, rng=0)
    _run(infer, model, np.random.default_rng(0).standard_normal((22, 6)))
    assert checked_for_fit == []


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("nan_row", "big_row", "named"),
    [
        # one batch: as the whole-X check did, whose min and max are NaN, NaN is named
        (10, 8, r"must be finite; got NaN or inf in row 10$"),
        # two batches: the first bad batch is named, whichever check finds it
        (2, 17, r"must be finite; got NaN or inf in row 2$"),
        (17, 2, r"must fit in float32 .* in row 2 "),
    ],
)
def test_nan_and_a_value_beyond_float32_in_one_call(route, nan_row, big_row, named):
    model = build_mlp(6, [ROUTES[route]], 3, rng=0)
    X = np.ones((22, 6))
    X[nan_row, 0], X[big_row, 1] = np.nan, 1e300
    with pytest.raises(ValueError, match=named):
        predict_proba(model, X, batch_size=8)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_float64_rows_give_the_float32_copys_outputs_bit_for_bit(route, order):
    model = build_mlp(6, [ROUTES[route]], 3, rng=0)
    X = np.asarray(np.random.default_rng(1).standard_normal((22, 6)) * 1e3, order=order)
    copy = X.astype(np.float32)
    for infer in INFERENCE:
        np.testing.assert_array_equal(
            infer(model, X, batch_size=8), infer(model, copy, batch_size=8), err_msg=str(infer)
        )
    assert evaluate(model, X, np.arange(22) % 3) == evaluate(model, copy, np.arange(22) % 3)


def test_without_the_finite_check_the_whole_x_is_checked_first(checked_for_fit):
    model = build_mlp(6, [5], 3, rng=0)
    X = np.ones((22, 6))
    X[17, 1] = 1e300
    with pytest.raises(ValueError, match=r"^predict_batches: X must fit in float32 .* row 17 "):
        predict_batches(model, X, batch_size=8, check_finite=False)
    assert checked_for_fit == [22]


def test_a_float64_network_takes_values_beyond_float32():
    model = build_mlp(6, [5], 3, rng=0, dtype=np.float64)
    X = np.ones((22, 6))
    X[9, 4] = 1e39
    logits = predict_logits(model, X, batch_size=8)
    np.testing.assert_array_equal(logits, model.forward(X))

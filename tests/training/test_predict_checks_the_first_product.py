"""Batched inference over more rows than the first layer has units checks each batch's first
product x @ W1 for NaN and inf, in the pass that adds its bias and applies the activation, and
reads the rows themselves only when the product is not finite: the same errors, naming the
same rows, as checking the rows first."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.errors import InputOverflowError
from softgrad.kernels import get_ops
from softgrad.nn import build_mlp
from softgrad.training import predict
from softgrad.training.predict import predict_batches, predict_logits, predict_proba

INFERENCE = [predict_proba, predict_logits, predict_batches]


@pytest.fixture
def model():
    return build_mlp(6, [5], 3, rng=0)  # 5 units: a call of 22 rows reads the product


@pytest.mark.parametrize("infer", INFERENCE, ids=lambda f: f.__name__)
def test_finite_rows_are_never_read_by_the_check(model, infer, rows_read):
    X = np.random.default_rng(0).standard_normal((22, 6)).astype(np.float32)
    with np.errstate(all="raise"):
        got = infer(model, X, batch_size=8)
    assert rows_read == []
    if infer is predict_logits:
        np.testing.assert_array_equal(got, model.forward(X))


@pytest.mark.parametrize("infer", INFERENCE, ids=lambda f: f.__name__)
def test_the_product_is_checked_in_its_bias_and_activation_pass(model, infer, monkeypatch):
    # one pass over each batch's product: the bias + activation that reads it anyway
    ops = get_ops()
    checked = []
    fused = ops.bias_activation_finite

    def record(y, b, activation):
        checked.append((y.shape, activation))
        return fused(y, b, activation)

    monkeypatch.setattr(ops, "bias_activation_finite", record)
    monkeypatch.setattr(predict, "all_finite", None, raising=False)  # no pass of its own
    infer(model, np.ones((22, 6), np.float32), batch_size=8)
    assert checked == [((8, 5), "relu"), ((8, 5), "relu"), ((6, 5), "relu")]


@pytest.mark.parametrize("infer", INFERENCE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 9, 21])
def test_a_bad_row_is_found_through_its_product(model, infer, rows_read, bad, row):
    X = np.ones((22, 6), np.float32)
    X[row, 4] = bad
    with pytest.raises(ValueError, match=rf"X must be finite; got NaN or inf in row {row}$"):
        infer(model, X, batch_size=8)
    assert rows_read == [8 if row < 16 else 6]  # the bad batch alone


@pytest.mark.parametrize("infer", INFERENCE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_weight_of_zero_in_the_bad_column_does_not_hide_it(model, infer, bad):
    # some zeros in the column's row of W1: the nonzero weights still carry the NaN or inf.
    # inf * 0 raises the invalid flag on any BLAS that multiplies it (OpenBLAS's SkylakeX
    # kernel raises it for the zeros padding its tiles too): the error names the row, with no
    # "invalid value encountered in matmul" warning before it (the suite makes warnings errors)
    model[0].params["W"][4, :3] = 0.0
    X = np.ones((22, 6), np.float32)
    X[13, 4] = bad
    with pytest.raises(ValueError, match=r"got NaN or inf in row 13$"):
        infer(model, X, batch_size=8)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_column_whose_weights_are_all_zero_has_its_rows_read(model, rows_read, bad):
    # a BLAS may skip zero weights, so the product could not show the column: the rows are read
    model[0].params["W"][4] = 0.0
    X = np.ones((22, 6), np.float32)
    X[13, 4] = bad
    with pytest.raises(ValueError, match=r"got NaN or inf in row 13$"):
        predict_proba(model, X, batch_size=8)
    assert rows_read == [8, 8]  # before each forward, up to the bad batch


def test_a_product_that_overflows_from_finite_rows_is_still_an_overflow(model, rows_read):
    model[0].params["W"][...] = 1e30
    X = np.ones((22, 6), np.float32)
    X[10] = 1e10  # finite, but its product overflows float32
    with pytest.raises(InputOverflowError, match=r"row 10"):
        predict_proba(model, X, batch_size=8)
    assert rows_read == [8]  # the product of batch 2 was not finite: its rows were read
    with np.errstate(over="ignore", invalid="ignore"):
        logits = predict_logits(model, X, batch_size=8)  # the logits as the forward has them
        expected = model.forward(X)
    np.testing.assert_array_equal(logits, expected)


def test_a_network_of_one_linear_layer_checks_its_logits_product(rows_read):
    from softgrad.nn import Linear, Sequential

    model = Sequential(Linear(6, 3, rng=0))
    X = np.ones((22, 6), np.float32)
    assert predict_proba(model, X, batch_size=8).shape == (22, 3)
    assert rows_read == []
    X[17, 2] = np.nan
    with pytest.raises(ValueError, match=r"got NaN or inf in row 17$"):
        predict_proba(model, X, batch_size=8)
    assert rows_read == [6]

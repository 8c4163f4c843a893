"""The estimator's predictions read a float X as it is, a batch at a time: each batch is cast to
the model's dtype and checked for NaN, inf and values beyond that dtype, naming the row, so no
converted copy of X is made and no pass over the whole of it runs first. The outputs are
those of the converted copy, bit for bit."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from softgrad.sklearn import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

OUTPUTS = ["predict", "predict_proba", "predict_log_proba"]


def _data(n=3000, d=12, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, d))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


@pytest.fixture(scope="module")
def fitted():
    """Fitted on float64 rows: a float32 model (the default) and a float64 one, with 8 hidden
    units (a call of more rows reads the first product for NaN) and with 64 (the rows)."""
    X, y = _data()
    return {
        (dtype, units): MLPClassifier((units,), max_iter=5, random_state=0, dtype=dtype).fit(X, y)
        for dtype in (np.float32, np.float64)
        for units in (8, 64)
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [8, 64])
@pytest.mark.parametrize("given", ["float64", "float32", "float16", "fortran", ">f8"])
def test_float_rows_give_the_converted_copys_outputs_bit_for_bit(fitted, dtype, units, given):
    clf = fitted[dtype, units]
    X = _data(2500, seed=1)[0]
    X = np.asfortranarray(X) if given == "fortran" else X.astype(given)
    copy = np.ascontiguousarray(X, dtype=dtype)  # what validate_data used to hand on
    for output in OUTPUTS:
        got, want = getattr(clf, output)(X), getattr(clf, output)(copy)
        np.testing.assert_array_equal(got, want, err_msg=output)


@pytest.mark.parametrize("units", [8, 64])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, r"X must be finite; got NaN or inf in row {row}$"),
        (np.inf, r"X must be finite; got NaN or inf in row {row}$"),
        (1e300, r"X must fit in float32 .*; got 1e\+300 in row {row} "),
    ],
)
@pytest.mark.parametrize("row", [0, 2100])  # in the first batch, and in the third
def test_a_bad_value_is_named_by_its_row(fitted, units, output, value, message, row):
    clf = fitted[np.float32, units]
    before = [w.copy() for w in clf.coefs_ + clf.intercepts_]
    X = _data(2500, seed=1)[0]
    X[row, 3] = value
    pattern = "^MLPClassifier: " + message.format(row=row)
    with pytest.raises(ValueError, match=pattern):  # and no warning first (filterwarnings)
        getattr(clf, output)(X)
    for a, b in zip(clf.coefs_ + clf.intercepts_, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_big_endian_rows_are_named_in_the_words_of_native_ones(fitted):
    X = _data(50, seed=1)[0].astype(">f8")
    X[7, 3] = 1e300
    with pytest.raises(ValueError, match=r"in row 7 \(rescale it, or use a float64 model\)$"):
        fitted[np.float32, 8].predict(X)


def test_a_float64_model_takes_values_beyond_float32(fitted):
    clf = fitted[np.float64, 8]
    X = _data(50, seed=1)[0]
    X[7, 3] = 1e39
    assert np.isfinite(clf.predict_log_proba(X)[np.arange(50) != 7]).all()


def test_no_converted_copy_of_x_is_made():
    X = np.random.default_rng(2).standard_normal((20_000, 12 * 64)).astype(np.float64)
    wide = MLPClassifier((8,), max_iter=1, random_state=0).fit(X[:200], np.arange(200) % 3)
    copy_bytes = X.size * 4
    tracemalloc.start()
    try:
        wide.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < copy_bytes / 4, (peak, copy_bytes)

"""The estimator's fit converts a NumPy float array of more than 256 values (standardised
pixels) itself and checks the copy in one pass, instead of validate_data's conversion and scan
after a min and a max of X: the same training, and X is searched for a bad value only when the
copy holds one, which is then named as before."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.sklearn import MLPClassifier, _data

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def searched(monkeypatch):
    """The arrays the estimator searched for a value beyond its dtype."""
    seen = []
    real = _data.check_fits_rows
    monkeypatch.setattr(_data, "check_fits_rows", lambda x, *a: seen.append(x) or real(x, *a))
    return seen


def _data_set(n=400, d=12):
    X = np.random.default_rng(0).standard_normal((n, d))  # thousands of distinct values
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_float_rows_are_converted_and_checked_in_one_pass(trained_on, searched, how, order):
    X, y = _data_set()
    X = np.asarray(X, order=order)

    def train(X):
        clf = MLPClassifier((8,), max_iter=3, random_state=0)
        if how == "partial_fit":
            return clf.partial_fit(X, y, classes=[0, 1, 2])
        return clf.fit(X, y)

    with np.errstate(all="raise"):
        got = train(X)
    assert searched == []  # X holds no value beyond float32: never searched
    rows = trained_on[-1]
    assert type(rows) is np.ndarray and rows.dtype == np.float32 and rows.flags.c_contiguous
    want = train(X.astype(np.float32))
    for a, b in zip(got.coefs_ + got.intercepts_, want.coefs_ + want.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
        (1e300, r"^MLPClassifier: X must fit in float32 .* got 1e\+300 in row 7 "),
    ],
)
def test_a_bad_value_is_named_as_before(searched, value, message):
    X, y = _data_set()
    X[7, 3] = value
    with pytest.raises(ValueError, match=message):
        MLPClassifier((8,), max_iter=3).fit(X, y)
    assert len(searched) == 1  # found in the copy, then searched for in X

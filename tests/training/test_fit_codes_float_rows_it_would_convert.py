"""``fit`` given float rows of another dtype than the model's (``X / 255.0`` in float64 for a
float32 model), which it would convert whole, keeps them as uint8 codes where they hold at most
256 values (CodedRows, the Numba lane), as the estimator does: the same training bit for bit,
a byte a value instead of four. Rows of the model's dtype are read as they are."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.coded_rows import CodedRows
from softgrad.datasets import load_digits
from softgrad.kernels import registry
from softgrad.optim import SGD, Adam

numba_ops = pytest.importorskip("softgrad.kernels.numba_ops")


@pytest.fixture(autouse=True)
def numba_lane(monkeypatch):
    """The lane that codes (the NumPy lane's encode_rows declines), whatever the run's is."""
    monkeypatch.setattr(registry, "_active", {"ops": numba_ops.NumbaOps()})


@pytest.fixture(scope="module")
def digits():
    ds = load_digits()
    return ds.X_train / 16.0, ds.y_train, ds.X_test / 16.0, ds.y_test  # 17 values, float64


@pytest.mark.parametrize(("x_dtype", "dtype"), [(np.float64, np.float32), (np.float32, np.float64)])
@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(lr=0.01)])
def test_float_rows_it_would_convert_are_coded_and_train_the_same(
    train_64, assert_same_training, digits, trained_on, x_dtype, dtype, make
):
    X, y, X_test, y_test = (a.astype(x_dtype) if a.dtype.kind == "f" else a for a in digits)
    a, history_a = train_64(X, y, dtype, make(), validation_data=(X_test, y_test))
    rows = trained_on[-1]
    assert type(rows) is CodedRows and rows.dtype == dtype and rows.grid == (0.0, 16.0)
    b, history_b = train_64(X.astype(dtype), y, dtype, make(), validation_data=(X_test, y_test))
    assert trained_on[-1].dtype == dtype and type(trained_on[-1]) is np.ndarray
    assert_same_training(a, history_a, b, history_b)


def test_rows_of_the_models_dtype_are_read_as_they_are(train_64, digits, trained_on):
    X = digits[0].astype(np.float32)
    train_64(X, digits[1], np.float32, SGD(lr=0.1))
    assert trained_on[-1] is X


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X + np.arange(X.shape[1]) * 1e-3,  # more than 256 values
        lambda X: np.asfortranarray(X),
    ],
    ids=["257 values and more", "fortran order"],
)
def test_other_float_rows_are_converted_as_before(train_64, digits, trained_on, make):
    X = make(digits[0])
    train_64(X, digits[1], np.float32, SGD(lr=0.1))
    rows = trained_on[-1]
    assert type(rows) is np.ndarray and rows.dtype == np.float32
    np.testing.assert_array_equal(rows, X.astype(np.float32))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, r"^fit: X must be finite; got nan in row 7, column 3$"),
        (1e300, r"^fit: X must fit in float32 .* got 1e\+300 in row 7 "),
    ],
)
def test_values_the_coder_refuses_are_named_as_before(train_64, digits, value, message):
    X = digits[0].copy()
    X[7, 3] = value
    with pytest.raises(ValueError, match=message):
        train_64(X, digits[1], np.float32, SGD(lr=0.1))


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X + np.arange(X.shape[1]) * 1e-3,  # float64, more than 256 values
        lambda X: np.asfortranarray(X.astype(np.float32)),  # the model's dtype, another layout
        lambda X: X.astype(np.float32),  # as it is: nothing to convert
    ],
    ids=["float64", "fortran float32", "float32"],
)
def test_rows_are_checked_once_after_the_conversion(train_64, digits, monkeypatch, make):
    from softgrad.training import data

    X = make(digits[0])
    searched = []
    real = data.check_fits_rows
    monkeypatch.setattr(
        data, "check_fits_rows", lambda *a, **k: searched.append(a) or real(*a, **k)
    )
    with np.errstate(all="raise"):  # no overflow in the conversion, no warning
        train_64(X, digits[1], np.float32, SGD(lr=0.1))
    assert searched == []  # X is searched for a value beyond float32 only when one is there
    X_bad = np.array(X, copy=True)
    X_bad[9, 2] = -1e39 if X_bad.dtype == np.float64 else np.inf
    message = r"got inf in row 9, column 2$"
    if X_bad.dtype == np.float64:
        message = r"must fit in float32 .* in row 9 "
    with pytest.raises(ValueError, match=message):
        train_64(X_bad, digits[1], np.float32, SGD(lr=0.1))

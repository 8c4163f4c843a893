"""``fit`` given a NumPy array of integers (uint8 pixels as they are) reads it through an
identity ScaledRows, each batch cast as it is gathered, instead of converting the whole array
to the model's dtype first: the same training bit for bit, without the float copy (188 MB for
Fashion-MNIST's 60,000 images in float32)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from softgrad.datasets import load_digits
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.preprocessing import ScaledRows, Scaler
from softgrad.training import data, fit


@pytest.fixture(scope="module")
def digits():
    ds = load_digits()
    return ds.X_train, ds.y_train, ds.X_test, ds.y_test


CASES = [
    (np.uint8, np.float32),
    (np.int16, np.float32),
    (np.int32, np.float32),
    (np.int64, np.float32),
    (np.uint8, np.float64),
    (np.int16, np.float64),
    (np.int32, np.float64),
    (np.int64, np.float64),
]


@pytest.mark.parametrize(("x_dtype", "dtype"), CASES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("make", [lambda: SGD(lr=0.01, momentum=0.9), lambda: Adam(lr=0.01)])
def test_integer_rows_train_as_their_converted_copy_bit_for_bit(
    train_64, assert_same_training, digits, trained_on, x_dtype, dtype, make
):
    X, y, X_test, y_test = digits
    X, X_test = X.astype(x_dtype), X_test.astype(x_dtype)
    a, history_a = train_64(X, y, dtype, make(), validation_data=(X_test, y_test))
    assert type(trained_on[-1]) is ScaledRows and trained_on[-1].data is X  # no copy of X
    assert trained_on[-1].scaler == Scaler()
    b, history_b = train_64(X.astype(dtype), y, dtype, make(), validation_data=(X_test, y_test))
    assert type(trained_on[-1]) is np.ndarray
    assert_same_training(a, history_a, b, history_b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_integers_are_cast_once_as_astype_casts_them(digits, dtype):
    # the identity ScaledRows casts each value once into the model's dtype: 2**24 + 1 keeps
    # its 1 in float64 (a float32 detour dropped it), and a 64-bit integer past 2**53 is not
    # rounded twice into float32 (a float64 detour would)
    X = digits[0].astype(np.int64)
    X[0, :4] = [2**24 + 1, 2**53 + 2**30 + 1, 2**62 + 2**38 + 1, -(2**61) - 1]
    rows = data.check_features(X, np.dtype(dtype))
    assert type(rows) is ScaledRows and rows.data is X
    idx = np.arange(len(X))
    np.testing.assert_array_equal(rows.take(idx), X.astype(dtype))
    np.testing.assert_array_equal(rows.take(idx[:7]), X[:7].astype(dtype))


def test_raw_integer_validation_rows_go_with_raw_integer_rows(train_64, digits):
    X, y, X_test, y_test = digits
    # with X read through an identity scaler, raw integer X_val is read alike: accepted
    train_64(ScaledRows(X, Scaler()), y, np.float32, SGD(lr=0.01), validation_data=(X_test, y_test))
    with pytest.raises(TypeError, match=r"X_val must be scaled like X"):
        train_64(Scaler.for_range(16).inputs(X), y, np.float32, SGD(lr=0.01),
               validation_data=(X_test, y_test))  # fmt: skip


def test_no_float_copy_of_the_integer_rows_is_made():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(20_000, 784), dtype=np.uint8)
    y = rng.integers(0, 10, size=20_000)
    model = build_mlp(784, [8], 10, rng=0)
    tracemalloc.start()
    try:
        fit(model, CrossEntropyLoss(), SGD(lr=1e-4), X, y, epochs=1, batch_size=128, rng=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.size * 4 / 8, peak  # the float32 copy: 62.7 MB


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_boolean_rows_train_as_their_converted_copy_bit_for_bit(
    train_64, assert_same_training, digits, trained_on, dtype
):
    # 0/1 features (one-hot columns): Model and the estimator take them; fit refused them
    X, y, X_test, y_test = (a > 8 if a.ndim == 2 else a for a in digits)
    a, history_a = train_64(X, y, dtype, Adam(lr=0.01), validation_data=(X_test, y_test))
    assert type(trained_on[-1]) is ScaledRows and trained_on[-1].data.base is X  # no copy of X
    b, history_b = train_64(
        X.astype(dtype), y, dtype, Adam(lr=0.01), validation_data=(X_test, y_test)
    )
    assert_same_training(a, history_a, b, history_b)

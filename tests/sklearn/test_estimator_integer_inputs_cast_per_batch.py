"""Integer X (uint8 images) is cast to the estimator's dtype one batch at a time, never as a
whole float copy, and gives bit for bit what converting it first gives: the weights, the loss
curve and every output of fit, partial_fit, predict, predict_proba and score.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from softgrad.sklearn import MLPClassifier, _data

# the fits here are a few epochs long and never converge
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _images(n_samples: int, n_features: int, dtype=np.uint8, high: int = 256, seed: int = 0):
    """Integer rows in [0, high) with labels that depend on them (3 classes)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, high, size=(n_samples, n_features)).astype(dtype)
    y = np.argmax(X[:, :3].astype(np.int64) + rng.integers(0, high // 4 + 1, (n_samples, 3)), 1)
    return X, y


def _clf(**params) -> MLPClassifier:
    params = {"hidden_layer_sizes": (6,), "random_state": 0, "max_iter": 4, **params}
    return MLPClassifier(**params)


HOWS = ["fit", "partial_fit", "validation_data", "sample_weight"]
PARAMS = {
    "adam": {},
    "early_stopping": {"early_stopping": True},  # the split of the stored rows
    "sgd": {"solver": "sgd"},
    "float64": {"dtype": np.float64},
}
CASES = [
    pytest.param(how, params, id=f"{name}-{how}")
    for name, params in PARAMS.items()
    for how in HOWS
    if not (how == "partial_fit" and params.get("early_stopping"))  # refused by partial_fit
]


@pytest.mark.parametrize(("how", "params"), CASES)
def test_uint8_X_gives_what_converting_it_first_gives(
    monkeypatch, how, params, train_outputs, assert_same_outputs
):
    X, y = _images(120, 10)
    got = train_outputs(_clf(**params), how, X, y)
    # today's path before this change: validate_data converts X to the dtype first
    monkeypatch.setattr(_data, "cast_per_batch", lambda X, dtype: False)
    assert_same_outputs(got, train_outputs(_clf(**params), how, X, y))


@pytest.mark.parametrize(
    ("x_dtype", "dtype"),
    [
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.int8, np.float32),
        (np.int32, np.float32),
        (np.int64, np.float32),
        (np.uint8, np.float64),
        (np.int16, np.float64),
    ],
)
@pytest.mark.parametrize("how", HOWS)
def test_integer_X_gives_what_the_same_X_in_float_gives(
    x_dtype, dtype, how, train_outputs, assert_same_outputs
):
    X, y = _images(120, 10, x_dtype, high=16)
    got, want = (
        train_outputs(_clf(dtype=dtype), how, X, y),
        train_outputs(_clf(dtype=dtype), how, X.astype(dtype), y),
    )
    if dtype == np.float32:
        # each sample's reported loss is capped at -log(eps) of the dtype scikit-learn would
        # train in on the caller's X: float64 for integers, float32 for float32 X
        del got["loss_curve_"], want["loss_curve_"]
    assert_same_outputs(got, want)


@pytest.mark.parametrize("x_dtype", [np.int32, np.int64, np.uint64])
def test_wide_integers_are_rounded_to_float32_as_astype_rounds_them(x_dtype):
    # beyond 2**24 float32 rounds: the batch-wise cast must round each value as astype does
    X, y = _images(60, 4, np.int64, high=16)
    clf = _clf(dtype=np.float32).fit(X, y)
    rng = np.random.default_rng(1)
    big = (2**24 + rng.integers(0, 2**20, size=(50, 4))).astype(x_dtype)
    assert not np.array_equal(big.astype(np.float32).astype(np.int64), big)  # some do round
    np.testing.assert_array_equal(
        clf.predict_log_proba(big), clf.predict_log_proba(big.astype(np.float32))
    )


def test_integers_of_any_width_are_cast_per_batch_once():
    # the identity ScaledRows casts each value once into the model's dtype, as astype does
    X = np.array([[2**24 + 1, 0], [0, 2**53 + 2**30 + 1]], dtype=np.int64)
    for dtype in (np.float32, np.float64):
        assert _data.cast_per_batch(X, dtype)
        rows = _data.cast_rows(X, dtype)
        np.testing.assert_array_equal(rows.take(np.arange(2)), X.astype(dtype))
    assert not _data.cast_per_batch(X, np.float16)  # ScaledRows reads float32 and float64


def _peak_bytes(call) -> int:
    """Peak of the memory NumPy and Python allocate during the second of two calls (the first
    loads and compiles the kernels, which allocates too)."""
    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_integer_images_are_never_copied_as_floats(dtype):
    # int64: NumPy's default integers (a float32 copy of them was made for a while)
    X, y = _images(20_000, 784, dtype=dtype, high=256)
    float_copy = X.size * np.dtype(np.float32).itemsize  # 62.7 MB, what each call made before
    clf = _clf(hidden_layer_sizes=(4,), max_iter=1, learning_rate_init=1e-5)
    training = {
        "fit": _peak_bytes(lambda: clf.fit(X, y)),
        "partial_fit": _peak_bytes(lambda: clf.partial_fit(X, y)),
    }
    # a few batches of 200 rows as floats, not the data set: below the uint8 images' own bytes
    assert all(peak < X.nbytes for peak in training.values()), (training, X.nbytes)
    inference = {
        "predict_proba": _peak_bytes(lambda: clf.predict_proba(X)),
        "predict": _peak_bytes(lambda: clf.predict(X)),
        "score": _peak_bytes(lambda: clf.score(X, y)),
    }
    # inference reads 4096 rows at a time: a few such float32 batches, whatever N is
    batches = 3 * 4096 * X.shape[1] * np.dtype(np.float32).itemsize
    assert batches < float_copy
    assert all(peak < batches for peak in inference.values()), (inference, batches)


@pytest.mark.parametrize("frame_dtype", [np.uint8, np.int64])
def test_a_dataframe_of_integers_is_copied_once_at_most(frame_dtype):
    # validate_data converted it to float32 whole: two float copies in fit (that copy, in
    # pandas' column order, then fit's C-ordered one), one in prediction. Now uint8 columns
    # are read as integers (their C-ordered copy, a quarter of a float32 one) and int64 ones,
    # wider than float32, converted once in C order
    pd = pytest.importorskip("pandas")
    X, y = _images(20_000, 784, dtype=frame_dtype, high=256)
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    float_copy = X.size * np.dtype(np.float32).itemsize
    copy = min(X.nbytes, float_copy)
    by_frame = _clf(hidden_layer_sizes=(4,), max_iter=1)
    by_array = _clf(hidden_layer_sizes=(4,), max_iter=1)
    peaks = {
        "fit": _peak_bytes(lambda: by_frame.fit(frame, y)),
        "predict_proba": _peak_bytes(lambda: by_frame.predict_proba(frame)),
    }
    batches = 3 * 4096 * X.shape[1] * np.dtype(np.float32).itemsize
    assert all(peak < copy + batches for peak in peaks.values()), (peaks, copy, batches)
    by_array.fit(X, y)
    weights = zip(
        by_frame.coefs_ + by_frame.intercepts_, by_array.coefs_ + by_array.intercepts_, strict=True
    )
    for ours, theirs in weights:
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(by_frame.predict_proba(frame), by_array.predict_proba(X))
    assert list(by_frame.feature_names_in_) == list(frame.columns)


def test_a_float64_dataframe_is_converted_once_and_checked_by_row(traced_peak):
    # validate_data converted it (pandas' astype, column by column) and fit copied that in C
    # order: two float32 copies; 1e300, finite in float64, was named only as "infinity"
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20_000, 784))
    y = rng.integers(0, 3, 20_000)
    frame = pd.DataFrame(X)
    float_copy = X.size * np.dtype(np.float32).itemsize
    clf = _clf(hidden_layer_sizes=(4,), max_iter=1)
    clf.fit(frame.iloc[:500], y[:500])  # the kernels compiled and loaded first
    _, peak = traced_peak(lambda: clf.fit(frame, y))
    assert peak < 1.5 * float_copy, (peak, float_copy)
    by_array = _clf(hidden_layer_sizes=(4,), max_iter=1).fit(X.astype(np.float32), y)
    np.testing.assert_array_equal(clf.coefs_[0], by_array.coefs_[0])
    X[123, 5] = 1e300
    with pytest.raises(ValueError, match=r"^MLPClassifier: X must fit in float32 .* in row 123"):
        _clf(max_iter=1).fit(pd.DataFrame(X), y)

"""Float X of another dtype than the estimator's with at most 256 distinct values (pixels
scaled by ``X / 255.0``, float64) is kept as uint8 codes (CodedRows) on the Numba lane, and
gives bit for bit what converting it to the dtype gives: the weights, the loss curve and every
output of fit, predict and score. partial_fit, which reads its block once, does not code it,
nor does fit code X of the estimator's own dtype, which it reads as it is.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from softgrad.coded_rows import CodedRows
from softgrad.kernels import registry
from softgrad.sklearn import MLPClassifier

numba_ops = pytest.importorskip("softgrad.kernels.numba_ops")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def numba_lane(monkeypatch):
    """The lane that codes (the NumPy lane's encode_rows declines), whatever the run's is."""
    monkeypatch.setattr(registry, "_active", {"ops": numba_ops.NumbaOps()})


def _pixels(n_samples: int, n_features: int, dtype=np.float64, seed: int = 0):
    """``levels / 255.0`` rows (levels 0..255) with labels that depend on them (3 classes)."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 256, size=(n_samples, n_features))
    y = np.argmax(levels[:, :3] + rng.integers(0, 65, (n_samples, 3)), 1)
    X = levels / 255.0 if dtype == np.float64 else levels.astype(np.float32) / np.float32(255)
    return X, y


def _clf(**params) -> MLPClassifier:
    return MLPClassifier(**{"hidden_layer_sizes": (6,), "random_state": 0, "max_iter": 4, **params})


HOWS = ["fit", "validation_data", "sample_weight"]
PARAMS = {
    "adam": {},
    "early_stopping": {"early_stopping": True},  # the split of the codes
    "sgd": {"solver": "sgd"},
    "float64": {"dtype": np.float64},
}
# X of another dtype than the estimator's, which fit would convert: coded
CASES = [
    pytest.param(how, params, x_dtype, id=f"{name}-{how}-{x_dtype.__name__}")
    for name, params in PARAMS.items()
    for how in HOWS
    for x_dtype in (np.float64, np.float32)
    if np.dtype(x_dtype) != np.dtype(params.get("dtype", np.float32))
]


@pytest.mark.parametrize(("how", "params", "x_dtype"), CASES)
def test_coded_X_gives_what_converting_it_gives(
    monkeypatch, trained_on, how, params, x_dtype, train_outputs, assert_same_outputs
):
    X, y = _pixels(120, 10, x_dtype)
    got = train_outputs(_clf(**params), how, X, y)
    assert all(isinstance(x, CodedRows) for x in trained_on), trained_on
    # the path without codes: X converted to the dtype
    monkeypatch.setattr(CodedRows, "encode", classmethod(lambda cls, *args: None))
    coded_calls = len(trained_on)
    want = train_outputs(_clf(**params), how, X, y)
    assert not any(isinstance(x, CodedRows) for x in trained_on[coded_calls:])
    assert_same_outputs(got, want)


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32])
def test_partial_fit_does_not_code_the_block_it_reads_once(trained_on, x_dtype):
    X, y = _pixels(120, 10, x_dtype)
    _clf().partial_fit(X[:60], y[:60], classes=[0, 1, 2]).partial_fit(X[60:], y[60:])
    assert len(trained_on) == 2
    assert all(type(x) is np.ndarray and x.dtype == np.float32 for x in trained_on), trained_on


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_x_of_the_estimators_dtype_is_read_as_it_is(trained_on, dtype):
    # nothing to convert, so nothing to spare: codes would add their memory to X's
    X, y = _pixels(120, 10, dtype)
    _clf(dtype=dtype).fit(X, y)
    assert trained_on[-1] is X


def test_k_over_255_reads_through_the_grid(trained_on):
    X, y = _pixels(120, 10)
    _clf().fit(X, y)
    (rows,) = trained_on
    assert rows.grid == (0.0, 255.0) and rows.dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda X: np.asfortranarray(X),
        lambda X: X + np.arange(X.shape[1]) * 1e-3,  # more than 256 values
        lambda X: X.astype(np.float16),
    ],
    ids=["fortran order", "257 values and more", "float16"],
)
def test_other_float_X_is_converted_as_before(trained_on, make):
    X, y = _pixels(120, 10)
    X = make(X)
    clf = _clf().fit(X, y)
    assert isinstance(trained_on[0], np.ndarray) and trained_on[0].dtype == np.float32
    assert clf.score(X, y) > 0


def test_nan_and_values_beyond_the_dtype_are_named_as_before():
    X, y = _pixels(40, 5)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _clf().fit(X, y)
    X[7, 2] = 1e300
    with pytest.raises(ValueError, match=r"X must fit in float32 .* got 1e\+300 in row 7"):
        _clf().fit(X, y)


def test_coded_X_is_never_copied_as_floats():
    X, y = _pixels(20_000, 784)
    float_copy = X.size * np.dtype(np.float32).itemsize  # 62.7 MB, what fit made before
    clf = _clf(hidden_layer_sizes=(4,), max_iter=1, learning_rate_init=1e-5)
    clf.fit(X, y)  # loads and compiles the kernels, which allocates too
    tracemalloc.start()
    try:
        clf.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the codes (15.7 MB, a byte a value) and a few batches, not a float copy
    assert X.size <= peak < float_copy / 2, (peak, float_copy)

"""ScaledRows and Scaler.inputs: stored uint8 rows read as the Scaler's float rows, lazily."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.preprocessing import ScaledRows, Scaler

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


@pytest.fixture
def pixels(rng):
    return rng.integers(0, 256, size=(50, 12), dtype=np.uint8)


def test_inputs_of_integer_data_is_a_lazy_view_of_it(pixels):
    rows = Scaler.for_range(255).inputs(pixels)
    assert isinstance(rows, ScaledRows)
    assert rows.data is pixels  # no copy of the data set, in any dtype
    assert len(rows) == 50 and rows.shape == (50, 12) and rows.ndim == 2
    assert rows.dtype == np.float32


def test_inputs_of_float_data_is_transform(rng):
    X = rng.normal(size=(6, 3))
    scaler = Scaler.fit_standard(X)
    out = scaler.inputs(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, scaler.transform(X))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64])
def test_take_and_rows_equal_transform_bit_for_bit(dtype, rng):
    X = rng.integers(0, 17, size=(40, 64)).astype(dtype)
    scaler = Scaler.fit_standard(X)
    rows = scaler.inputs(X)
    full = scaler.transform(X)
    idx = np.array([39, 0, 0, 17])
    np.testing.assert_array_equal(rows.take(idx), full[idx])
    np.testing.assert_array_equal(rows.rows(slice(5, 12)), full[5:12])
    np.testing.assert_array_equal(rows.rows(), full)
    np.testing.assert_array_equal(np.asarray(rows), full)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float64_features_are_read_as_transform_scales_them(dtype, kernel_lane, rng):
    # stored float64 features are scaled in float64 (Scaler's Notes): the rows a ScaledRows
    # gathers, bound or not, must be those very values
    X = 1.7e9 + rng.normal(size=(40, 6)) * 300
    scaler = Scaler.fit_standard(X)
    rows = ScaledRows(X, scaler, dtype)
    full = scaler.transform(X, dtype=dtype)
    idx = np.array([39, 0, 0, 17])
    np.testing.assert_array_equal(rows.take(idx), full[idx])
    out = np.empty((4, 6), dtype)
    rows.bind_take(out)(idx)
    np.testing.assert_array_equal(out, full[idx])
    np.testing.assert_array_equal(rows.floats(), full)
    np.testing.assert_array_equal(scaler.inputs(X, dtype), full)


@pytest.mark.skipif(not NUMPY2, reason="np.asarray's copy keyword is NumPy 2's")
def test_asarray_without_a_copy_is_refused(pixels):
    with pytest.raises(ValueError, match="copy=False is impossible"):
        np.asarray(Scaler.for_range(255).inputs(pixels), copy=False)


def test_take_fills_the_front_of_a_preallocated_buffer(pixels):
    rows = Scaler.for_range(255).inputs(pixels)
    buf = np.full((8, 12), -1.0, dtype=np.float32)
    assert rows.take(np.array([4, 2]), buf[:2]) is not None
    np.testing.assert_array_equal(buf[:2], Scaler.for_range(255).transform(pixels[[4, 2]]))
    np.testing.assert_array_equal(buf[2:], -1.0)


def test_float64_rows_are_the_transform_widened_bit_for_bit(pixels):
    scaler = Scaler(np.linspace(0, 200, 12), 1 / 70)
    rows = scaler.inputs(pixels, dtype=np.float64)
    got = rows.take(np.arange(50))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, scaler.transform(pixels).astype(np.float64))
    buf = np.empty((3, 12), dtype=np.float64)
    assert rows.take(np.array([49, 0, 49]), buf) is buf
    np.testing.assert_array_equal(buf, scaler.transform(pixels[[49, 0, 49]]).astype(np.float64))


def test_slicing_and_indexing_keep_the_rows_stored(pixels):
    rows = Scaler.for_range(255).inputs(pixels)
    head = rows[10:20]
    assert isinstance(head, ScaledRows) and head.data.base is pixels  # a view
    picked = rows[np.array([3, 1])]
    assert picked.data.dtype == np.uint8 and picked.shape == (2, 12)
    np.testing.assert_array_equal(picked.rows(), rows.take(np.array([3, 1])))
    with pytest.raises(TypeError, match=r"ScaledRows: index must be a slice.*\.take\(\[i\]\)"):
        rows[3]


def test_astype_shares_the_data(pixels):
    rows = Scaler.for_range(255).inputs(pixels)
    assert rows.astype(np.float32) is rows
    wide = rows.astype(np.float64)
    assert wide.data is pixels and wide.dtype == np.float64


@pytest.mark.parametrize(
    ("data", "scaler", "dtype", "error", "match"),
    [
        (np.zeros(5, np.uint8), Scaler(), np.float32, ValueError, r"data must be .*2-D.*\(5,\)"),
        (np.zeros((2, 3), np.uint8), Scaler([1, 2], [1, 1]), np.float32, ValueError,
         r"must have 2 features like the scaler; got shape \(2, 3\)"),
        (np.zeros((2, 3), np.uint8), "x / 255", np.float32, TypeError, "must be a softgrad Scaler"),
        (np.zeros((2, 3), np.uint8), Scaler(), np.float16, ValueError,
         "dtype must be float32 or float64; got 'float16'"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_by_name(data, scaler, dtype, error, match):
    with pytest.raises(error, match=match):
        ScaledRows(data, scaler, dtype)


def test_repr_names_the_stored_and_the_read_dtype(pixels):
    assert repr(Scaler.for_range(255).inputs(pixels)).startswith(
        "ScaledRows(uint8 of shape (50, 12) as float32, Scaler(offset=0.0"
    )

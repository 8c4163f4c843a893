"""Scaler: (X - offset) * scale in float32, fitted standardisation, saving."""

import tracemalloc

import numpy as np
import pytest

from softgrad import preprocessing_params
from softgrad.preprocessing import Scaler


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.bool_])
def test_transform_is_float32_formula(rng, dtype):
    X = rng.integers(0, 200, (17, 5)) if dtype != np.bool_ else rng.integers(0, 2, (17, 5))
    X = X.astype(dtype)
    offset = rng.standard_normal(5).astype(np.float32)
    scale = rng.uniform(0.1, 2, 5).astype(np.float32)
    out = Scaler(offset, scale).transform(X)
    assert out.dtype == np.float32 and out.shape == X.shape
    # the same arithmetic done by hand in float32: bit-identical (no float64 detour)
    expected = (X.astype(np.float32) - offset) * scale
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float64_input_is_scaled_in_float64_then_rounded_once(rng, dtype):
    X = rng.standard_normal((300, 5)) * 1e3
    offset = rng.standard_normal(5).astype(np.float32)
    scale = rng.uniform(0.1, 2, 5).astype(np.float32)
    out = Scaler(offset, scale).transform(X, dtype=dtype)  # 300 rows: blocks of the working dtype
    assert out.dtype == dtype and out.shape == X.shape
    expected = ((X - offset.astype(np.float64)) * scale.astype(np.float64)).astype(dtype)
    np.testing.assert_array_equal(out, expected)


def test_float64_features_keep_the_digits_float32_drops_before_the_offset():
    # cast to float32 first, timestamps near 1.7e9 (float32's step there: 128 s) lost their
    # seconds before the mean came off, in a float64 model too
    seconds = 1.7e9 + np.arange(200.0)[:, None]
    scaler = Scaler.fit_standard(seconds)
    for dtype in (np.float32, np.float64):
        scaled = scaler.transform(seconds, dtype=dtype)
        assert len(np.unique(scaled)) == 200
        assert np.all(np.diff(scaled[:, 0]) > 0)


@pytest.mark.parametrize("stored", [np.int32, np.uint32, np.int64, np.uint64])
def test_integer_features_of_32_bits_or_more_keep_the_digits_float32_drops(stored):
    # they were cast to float32 first: int64 timestamps near 1.7e9 scaled to [0, 0, 0, 2.45]
    # where their float64 values give [0, 0.019, 1.15, 2.43], in a float64 model too
    seconds = np.array([0, 1, 60, 127, 3600])[:, None] + 1_700_000_000
    scaler = Scaler.fit_standard(seconds.astype(np.float64))
    for dtype in (np.float32, np.float64):
        got = scaler.transform(seconds.astype(stored), dtype=dtype)
        np.testing.assert_array_equal(
            got, scaler.transform(seconds.astype(np.float64), dtype=dtype)
        )
        np.testing.assert_array_equal(
            scaler.inputs(seconds.astype(stored), dtype).take(np.arange(5)), got
        )
        assert np.all(np.diff(got[:, 0]) > 0)


def test_integer_and_float32_features_are_scaled_in_float32_and_widened_for_float64(rng):
    scaler = Scaler(rng.standard_normal(4).astype(np.float32), np.float32(0.37))
    for X in (rng.integers(0, 256, (9, 4)).astype(np.uint8), rng.random((9, 4), np.float32)):
        np.testing.assert_array_equal(
            scaler.transform(X, dtype=np.float64), scaler.transform(X).astype(np.float64)
        )


def test_transform_refuses_a_dtype_it_cannot_give(rng):
    with pytest.raises(ValueError, match="dtype must be float32 or float64; got 'float16'"):
        Scaler().transform(np.zeros((2, 3)), dtype=np.float16)
    with pytest.raises(ValueError, match="out must be float64 of shape"):
        Scaler().transform(np.zeros((2, 3)), out=np.zeros((2, 3), np.float32), dtype=np.float64)


def test_float64_input_is_rounded_once_to_float32(rng):
    X = rng.standard_normal((50, 3)) * 1e3
    out = Scaler(1.0, 0.5).transform(X)
    np.testing.assert_allclose(out, (X - 1.0) * 0.5, rtol=2e-7, atol=0)


def test_transform_does_not_touch_its_input(rng):
    X = rng.integers(0, 256, (4, 3), dtype=np.uint8)
    before = X.copy()
    Scaler.for_range(255).transform(X)
    np.testing.assert_array_equal(X, before)


def test_transform_accepts_leading_dims_and_lists():
    out = Scaler([0.0, 1.0], [1.0, 2.0]).transform([[[1, 1]], [[2, 3]]])
    np.testing.assert_array_equal(out, np.array([[[1, 0]], [[2, 4]]], dtype=np.float32))


def _peak(call):
    """``call()``'s result and the peak of what it allocated (tracemalloc)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_transform_peak_memory_is_the_float32_result(rng):
    X = rng.integers(0, 256, (2000, 784), dtype=np.uint8)
    scaler = Scaler.fit_standard(X)
    out, peak = _peak(lambda: scaler.transform(X))
    assert peak < 1.1 * out.nbytes, (peak, out.nbytes)


def test_for_range_maps_0_max_to_0_1():
    out = Scaler.for_range(16).transform(np.array([[0, 8, 16]]))
    np.testing.assert_array_equal(out, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize("max_value", [0, -1, np.inf, np.nan])
def test_for_range_rejects_bad_max(max_value):
    finite = "" if np.isfinite(max_value) else "a finite number "
    with pytest.raises(
        ValueError, match=rf"^Scaler\.for_range: max_value must be {finite}> 0\.0; got"
    ):
        Scaler.for_range(max_value)


@pytest.mark.parametrize("max_value", ["255", True, None])
def test_for_range_refuses_what_is_not_a_number(max_value):
    # "255" gave NumPy's isfinite message; True was read as a range of 1
    with pytest.raises(TypeError, match=r"^Scaler\.for_range: max_value must be a real number"):
        Scaler.for_range(max_value)


@pytest.mark.parametrize("chunk", [7, 4096])
def test_fit_standard_matches_numpy(rng, monkeypatch, chunk):
    monkeypatch.setattr(preprocessing_params, "_CHUNK_ROWS", chunk)
    X = rng.integers(0, 256, (100, 6), dtype=np.uint8)
    scaler = Scaler.fit_standard(X)
    np.testing.assert_allclose(scaler.offset, X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale, 1 / X.std(axis=0), rtol=1e-6)
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-5)


def test_fit_standard_constant_features_map_to_zero(rng):
    X = np.column_stack([np.full(10, 7.0), rng.standard_normal(10), np.zeros(10), np.full(10, 0.1)])
    scaler = Scaler.fit_standard(X)
    np.testing.assert_array_equal(scaler.scale[[0, 2, 3]], [1.0, 1.0, 1.0])
    Z = scaler.transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z[:, [0, 2, 3]], 0, atol=1e-7)


@pytest.mark.parametrize("magnitude", [1e-30, 1e-16, 1e30])
def test_fit_standard_scales_a_feature_of_any_magnitude_by_its_own_spread(rng, magnitude):
    # the constant rule compared the std with 1e-15 * max(1, |mean|): a feature of values near
    # 1e-30 (or 1e-16, with a std of 3e-17) was taken as constant and mapped to 0
    X = np.column_stack([magnitude * (1 + rng.random(50)), rng.standard_normal(50)])
    scaler = Scaler.fit_standard(X)
    np.testing.assert_allclose(scaler.scale[0], 1 / X[:, 0].std(), rtol=1e-6)
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-5)


@pytest.mark.parametrize("values", [[1e300, -1e300], [1e-41, 3e-41]])
def test_fit_standard_refuses_a_spread_a_float32_scale_cannot_invert(values):
    # 1e300's squares overflow (std inf: its scale was 0, the feature silently zeroed)
    X = np.column_stack([values, [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"^Scaler.fit_standard: X's feature 0 must have a st"):
        Scaler.fit_standard(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_standard_rejects_non_finite(bad):
    X = np.ones((4, 2))
    X[1, 1] = bad
    with pytest.raises(ValueError, match="X must be finite"):
        Scaler.fit_standard(X)


@pytest.mark.parametrize("X", [np.zeros((0, 3)), np.zeros(3), np.array([["a"]])])
def test_fit_standard_rejects_bad_shapes(X):
    with pytest.raises(ValueError, match="non-empty numeric 2-D array"):
        Scaler.fit_standard(X)


def test_transform_checks_feature_count():
    scaler = Scaler(np.zeros(3), 1.0)
    assert scaler.n_features == 3
    with pytest.raises(
        ValueError, match=r"X must have 3 features \(last axis\); got shape \(2, 4\)"
    ):
        scaler.transform(np.zeros((2, 4)))
    assert Scaler(0.0, 1.0).n_features is None


def test_transform_rejects_non_numeric():
    with pytest.raises(ValueError, match="X must be numeric"):
        Scaler().transform(np.array([["1"]]))


@pytest.mark.parametrize(
    ("offset", "scale", "message"),
    [
        (np.zeros(3), np.ones(4), "same length"),
        (np.zeros((2, 2)), 1.0, "offset must be a number or a 1-D"),
        (0.0, np.nan, "scale must be finite"),
        (1e39, 1.0, "offset must be finite in float32"),
        ("a", 1.0, "offset must be a number"),
    ],
)
def test_constructor_checks(offset, scale, message):
    with pytest.raises(ValueError, match=message):
        Scaler(offset, scale)


def test_arrays_round_trip(rng):
    scaler = Scaler.fit_standard(rng.standard_normal((20, 4)))
    arrays = scaler.to_arrays()
    assert set(arrays) == {"offset", "scale"}
    assert all(a.dtype == np.float32 for a in arrays.values())
    again = Scaler.from_arrays(arrays)
    assert again == scaler
    X = rng.standard_normal((5, 4))
    np.testing.assert_array_equal(again.transform(X), scaler.transform(X))
    assert Scaler.from_arrays(Scaler.for_range(255).to_arrays()) == Scaler.for_range(255)
    with pytest.raises(ValueError, match="missing \\['scale'\\]"):
        Scaler.from_arrays({"offset": arrays["offset"]})


def test_repr():
    assert repr(Scaler.for_range(4)) == "Scaler(offset=0.0, scale=0.25)"
    assert repr(Scaler(np.zeros(3), 2.0)) == "Scaler(offset=<3 values>, scale=2.0)"


def test_transform_into_out_gives_the_values_of_a_new_array_and_checks_out():
    X = np.array([[1.5, -2.0], [3.25, 8.0]], dtype=np.float32)
    scaler = Scaler(np.array([1.0, 2.0]), np.array([0.5, 3.0]))
    expected = scaler.transform(X)
    assert scaler.transform(X, out=X) is X
    np.testing.assert_array_equal(X, expected)
    with pytest.raises(ValueError, match=r"out must be float32 of shape \(2, 2\) like X; got "):
        scaler.transform(X, out=np.empty((2, 2)))


def test_fit_standard_holds_at_most_a_bounded_float64_block_of_wide_rows(rng):
    # 1,000 rows of 5,000 features: a 4096-row block was the whole set in float64 (40 MB)
    X = rng.standard_normal((1_000, 5_000)).astype(np.float32)
    scaler, peak = _peak(lambda: Scaler.fit_standard(X))
    block = 8 * preprocessing_params._CHUNK_VALUES  # one float64 block, and einsum's product of it
    assert peak <= 2 * block + 1_000_000, peak
    np.testing.assert_allclose(scaler.offset, X.mean(axis=0, dtype=np.float64), rtol=1e-6)


def test_a_value_beyond_float32_scales_to_inf_without_a_warning():
    # NumPy's "overflow encountered in subtract" leaked (the suite turns warnings to errors)
    X = np.array([[1e300, -1e300, np.nan, 2.0]])
    out = Scaler(0.0, 1.0).transform(X)
    np.testing.assert_array_equal(out, np.array([[np.inf, -np.inf, np.nan, 2.0]], np.float32))

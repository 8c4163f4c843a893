"""The Numba lane's vectorisable exp and tanh (softgrad.kernels.numba_math) against the
functions in float64 rounded to float32, and against NumPy's at the limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from numba import njit

from softgrad.kernels.numba_math import exp, tanh


@njit(error_model="numpy")
def _exp_loop(x, out):
    # the shape every kernel uses it in: a loop over an array
    for i in range(x.size):
        out[i] = exp(x[i])


@njit(error_model="numpy")
def _tanh_loop(x, out):
    for i in range(x.size):
        out[i] = tanh(x[i])


def _ulps(actual, expected):
    """Distance in units in the last place between float32 arrays of one sign per entry."""
    return np.abs(actual.view(np.int32).astype(np.int64) - expected.view(np.int32))


def _float32_range(low, high, stride):
    """Every ``stride``-th float32 from ``low`` to ``high`` (the bit patterns, both signs)."""
    parts = []
    for sign, top in ((0, high), (1, -low)):
        bits = np.arange(0, np.float32(top).view(np.int32), stride, dtype=np.int64)
        parts.append((bits | (sign << 31)).astype(np.uint32).view(np.float32))
    return np.concatenate(parts)


def test_float32_is_within_one_ulp_of_the_correctly_rounded_exp():
    # the whole range where exp(x) is neither 0 nor inf in float32, subnormal results included
    # (every float32 of it was checked by hand: at most 1 ulp)
    x = _float32_range(-104.0, 89.0, 997)
    got = np.empty_like(x)
    _exp_loop(x, got)
    with np.errstate(over="ignore"):
        expected = np.exp(x.astype(np.float64)).astype(np.float32)
    finite = np.isfinite(expected)
    assert _ulps(got[finite], expected[finite]).max() <= 1
    assert np.isposinf(got[~finite]).all()


LIMITS = [
    np.inf,
    -np.inf,
    np.nan,
    -np.nan,
    0.0,
    -0.0,
    88.72283,  # the largest x with a finite exp in float32
    88.72284,  # the smallest with exp = inf
    -87.33654,  # exp is the smallest normal number here
    -103.27893,  # and the smallest subnormal here
    -103.97208,  # exp rounds to 0 below
    -200.0,
    1000.0,
    np.finfo(np.float32).max,
    -np.finfo(np.float32).max,
    np.finfo(np.float32).tiny,
]


@pytest.mark.parametrize("value", LIMITS)
def test_float32_limits_are_those_of_np_exp(value):
    x = np.array([value], dtype=np.float32)
    got = np.empty_like(x)
    _exp_loop(x, got)
    with np.errstate(over="ignore"):
        expected = np.exp(x.astype(np.float64)).astype(np.float32)
    if np.isnan(expected[0]):
        assert np.isnan(got[0])
    else:
        assert _ulps(got, expected)[0] <= 1, (value, got[0], expected[0])
        assert np.isinf(got[0]) == np.isinf(expected[0])


def _libm_exp(value: float) -> float:
    """The C library's exp (math.exp calls it), with its limits instead of OverflowError."""
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def test_float64_is_the_c_librarys_exp_and_within_one_ulp_of_np_exp():
    # Numba's np.exp of a float64 is a call of the C library's exp, as math.exp is: the same
    # bits. NumPy's own np.exp is another implementation on some CPUs (its AVX-512 one: an ulp
    # away on 4.7% of these values on an AMD Zen 5, equal on an AVX2-only CPU)
    x = np.random.default_rng(0).normal(scale=30.0, size=1000)
    x[:3] = [np.inf, -np.inf, np.nan]
    got = np.empty_like(x)
    _exp_loop(x, got)
    np.testing.assert_array_equal(got, [_libm_exp(value) for value in x])
    with np.errstate(over="ignore"):
        numpy_exp = np.exp(x)
    for special in (np.isnan, np.isposinf):
        np.testing.assert_array_equal(special(got), special(numpy_exp))
    finite = np.isfinite(numpy_exp)
    ulps = np.abs(got[finite].view(np.int64) - numpy_exp[finite].view(np.int64))
    assert ulps.max() <= 1, (x[finite][np.argmax(ulps)], ulps.max())


def test_outside_numba_it_is_np_exp():
    x = np.array([0.0, 1.0, -np.inf], dtype=np.float32)
    np.testing.assert_array_equal(exp(x), np.exp(x))


def test_float32_tanh_is_within_one_ulp_of_the_correctly_rounded_tanh():
    # |x| < 10: beyond, tanh rounds to +-1 in float32 (every float32 of (-10, 10) was checked
    # by hand, with fused multiply-adds and without: at most 1 ulp, as np.tanh here)
    x = _float32_range(-10.0, 10.0, 997)
    got = np.empty_like(x)
    _tanh_loop(x, got)
    expected = np.tanh(x.astype(np.float64)).astype(np.float32)
    assert _ulps(got, expected).max() <= 1


TANH_LIMITS = [
    np.inf,
    -np.inf,
    0.0,
    -0.0,  # keeps its sign
    1e-45,  # subnormal: tanh(x) = x
    -1e-38,
    0.625,  # the two formulas meet here
    np.nextafter(np.float32(0.625), np.float32(0.0)),
    9.01,  # tanh rounds to 1 from about here
    44.4,  # exp(2x) overflows above
    1e30,
    -np.finfo(np.float32).max,
]


@pytest.mark.parametrize("value", TANH_LIMITS)
def test_float32_tanh_limits_are_those_of_the_correctly_rounded_tanh(value):
    x = np.array([value], dtype=np.float32)
    got = np.empty_like(x)
    _tanh_loop(x, got)
    expected = np.tanh(x.astype(np.float64)).astype(np.float32)
    assert _ulps(got, expected)[0] <= 1, (value, got[0], expected[0])
    assert np.signbit(got[0]) == np.signbit(expected[0])


def test_tanh_of_nan_is_nan_and_float64_is_the_c_librarys():
    got = np.empty(2, np.float32)
    _tanh_loop(np.array([np.nan, -np.nan], np.float32), got)
    assert np.isnan(got).all()
    x = np.random.default_rng(0).normal(scale=5.0, size=1000)
    x[:4] = [np.inf, -np.inf, np.nan, -0.0]
    got = np.empty_like(x)
    _tanh_loop(x, got)  # the C library's tanh, which may round differently from NumPy's
    expected = np.tanh(x)
    np.testing.assert_array_equal(got[:4], expected[:4])
    assert np.signbit(got[3])
    np.testing.assert_allclose(got, expected, rtol=2 * np.finfo(np.float64).eps, atol=0)
    np.testing.assert_array_equal(tanh(x[4:]), np.tanh(x[4:]))  # outside Numba: np.tanh

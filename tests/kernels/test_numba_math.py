"""The Numba lane's vectorisable exp and tanh (softgrad.kernels.numba_math) against the
functions in float64 rounded to float32 (float64's exp: in long double rounded to float64),
and against NumPy's at the limits."""

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


# exp's limits in any dtype
SPECIAL = [np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0]

LIMITS = [
    *SPECIAL,
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


# exp in long double (x86's 80-bit, or a 128-bit one) rounded to float64 is the correctly
# rounded exp but for a rare tie; where long double is float64 itself there is no reference
_EXTENDED = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant
needs_extended = pytest.mark.skipif(
    not _EXTENDED, reason="long double is float64 here: no more precise exp to compare with"
)


def _rounded_exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(x.astype(np.longdouble)).astype(np.float64)


def _ulps64(actual, expected):
    return np.abs(actual.view(np.int64) - expected.view(np.int64))


@needs_extended
def test_float64_is_within_one_ulp_of_the_correctly_rounded_exp():
    # the whole range where exp(x) is neither 0 nor inf, subnormal results included, and the
    # ranges the kernels use most (4e8 such values were checked by hand: at most 1 ulp, 1.1-1.6%
    # of them an ulp away, with fused multiply-adds and without). It was the C library's exp
    # per element, which kept every float64 loop scalar; evaluated plainly, the polynomial was
    # an ulp away on 9% of values, which unshifted log-softmax rows showed
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.uniform(low, high, 500_000)
            for low, high in ((-745.2, 709.8), (-50.0, 0.0), (-1.0, 1.0), (-745.2, -700.0))
        ]
    )
    got = np.empty_like(x)
    _exp_loop(x, got)
    expected = _rounded_exp(x)
    finite = np.isfinite(expected)
    ulps = _ulps64(got[finite], expected[finite])
    assert ulps.max() <= 1, (x[finite][np.argmax(ulps)], ulps.max())
    assert np.count_nonzero(ulps) / ulps.size < 0.03
    assert np.isposinf(got[~finite]).all()


LIMITS_64 = [
    *SPECIAL,
    709.782712893384,  # the largest x with a finite exp
    709.7827128933841,  # the smallest with exp = inf
    -708.3964185322641,  # exp is the smallest normal number here
    -744.4400719213812,  # and the smallest subnormal here
    -745.1332191019411,  # still the smallest subnormal (rounded up from half of it)
    -745.1332191019412,  # exp rounds to 0 from here down
    -1000.0,
    1000.0,
    np.finfo(np.float64).max,
    -np.finfo(np.float64).max,
    np.finfo(np.float64).tiny,
    5e-324,
    -5e-324,
]


@needs_extended
@pytest.mark.parametrize("value", LIMITS_64)
def test_float64_limits_are_those_of_the_correctly_rounded_exp(value):
    x = np.array([value])
    got = np.empty_like(x)
    _exp_loop(x, got)
    expected = _rounded_exp(x)
    if np.isnan(expected[0]):
        assert np.isnan(got[0])
    elif expected[0] == 0.0 or np.isinf(expected[0]):
        assert got[0] == expected[0], (value, got[0])  # exactly 0 or inf, as np.exp
    else:
        assert _ulps64(got, expected)[0] <= 1, (value, got[0], expected[0])


def test_in_numba_code_a_float64_exp_is_the_vectorisable_form():
    # what the kernels call is _exp_float64 (compiled as the overload compiles it), not the C
    # library's exp: the two are an ulp apart on 1.5% of values, so these 10,000 tell them apart
    from softgrad.kernels.numba_math import _exp_float64

    form = njit(fastmath={"contract"})(_exp_float64)

    @njit(error_model="numpy")
    def direct(x, out):
        for i in range(x.size):
            out[i] = form(x[i])

    x = np.random.default_rng(5).uniform(-700.0, 700.0, 10_000)
    got, expected = np.empty_like(x), np.empty_like(x)
    _exp_loop(x, got)
    direct(x, expected)
    np.testing.assert_array_equal(got, expected)
    with np.errstate(over="ignore"):
        assert not np.array_equal(got, [_libm(v) for v in x])


def _libm(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def test_float64_limits_are_those_of_np_exp():
    # the values exp has exactly (no reference needed): inf, 0, NaN, 1
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1000.0, -1000.0, 5e-324, -5e-324])
    got = np.empty_like(x)
    _exp_loop(x, got)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(x))


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

"""The Numba lane's vectorisable exp and tanh (softgrad.kernels.numba_math) against the
functions in float64 rounded to float32 (float64's exp: in long double rounded to float64),
and against NumPy's at the limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from numba import njit

from softgrad.kernels.numba_math import exp, log, log1p, tanh


def _loop(function):
    """``function`` over an array in Numba code, the shape every kernel uses it in."""

    @njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.size):
            out[i] = function(x[i])

    return loop


_exp_loop, _tanh_loop, _log_loop, _log1p_loop = (_loop(f) for f in (exp, tanh, log, log1p))


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


def _is_the_form(loop, form, x):
    """What ``loop`` (a kernel-like loop over the overloaded function) gives for ``x``, checked
    equal to ``form`` compiled as the overload compiles it (fast-math ``contract``)."""
    compiled = njit(fastmath={"contract"})(form)

    @njit(error_model="numpy")
    def direct(x, out):
        for i in range(x.size):
            out[i] = compiled(x[i])

    got, expected = np.empty_like(x), np.empty_like(x)
    loop(x, got)
    direct(x, expected)
    np.testing.assert_array_equal(got, expected)
    return got


def test_in_numba_code_a_float64_exp_is_the_vectorisable_form():
    # what the kernels call is _exp_float64 (compiled as the overload compiles it), not the C
    # library's exp: the two are an ulp apart on 1.5% of values, so these 10,000 tell them apart
    from softgrad.kernels.numba_math import _exp_float64

    x = np.random.default_rng(5).uniform(-700.0, 700.0, 10_000)
    got = _is_the_form(_exp_loop, _exp_float64, x)
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


def _float32_bits(low_bits, high_bits, stride):
    """Every ``stride``-th float32 whose bit pattern lies in [low_bits, high_bits)."""
    return np.arange(low_bits, high_bits, stride, dtype=np.int64).astype(np.uint32).view(np.float32)


def _signed_ulps(actual, expected):
    """Distance in ulps of float32 arrays, through 0 where the signs differ (log changes sign
    at 1, log1p at 0)."""

    def ordered(v):
        bits = v.view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)

    return np.abs(ordered(actual) - ordered(expected))


# (loop, reference, bit patterns): every positive float32 (subnormals, +inf) for log and
# log1p, and (-1, 0] for log1p (its arguments below 0)
FLOAT32_RANGES = {
    "log": (_log_loop, np.log, 0, 0x7F800001),
    "log1p": (_log1p_loop, np.log1p, 0, 0x7F800001),
    "log1p of (-1, 0]": (_log1p_loop, np.log1p, 0x80000000, 0xBF800000),
}


@pytest.mark.parametrize("name", list(FLOAT32_RANGES))
def test_float32_logs_are_within_one_ulp_of_the_correctly_rounded_log(name):
    # every float32 of these ranges was checked by hand (2.1e9 values each; at most 1 ulp,
    # 0.6% of logs an ulp away, 2.8% of log1p's, 3.8% below 0); the test takes every 997th
    loop, reference, low, high = FLOAT32_RANGES[name]
    x = _float32_bits(low, high, 997)
    got = np.empty_like(x)
    loop(x, got)
    with np.errstate(divide="ignore"):  # log(0) = -inf, as the kernel's
        expected = reference(x.astype(np.float64)).astype(np.float32)
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    assert _signed_ulps(got[finite], expected[finite]).max() <= 1, name


def _rounded(function, x: np.ndarray) -> np.ndarray:
    return function(x.astype(np.longdouble)).astype(np.float64)


@needs_extended
def test_float64_logs_are_within_one_ulp_of_the_correctly_rounded_log():
    # fdlibm's log: exps of the whole range, subnormals included, and around 1 (where 7.6% of
    # results are an ulp away); log1p over (-1, 1e4] and of the tiny exps softplus takes.
    # 1.4e7 such values were checked by hand: at most 1 ulp
    rng = np.random.default_rng(1)
    logs = np.concatenate(
        [np.exp(rng.uniform(-745.0, 709.0, 300_000)), rng.uniform(0.5, 2, 300_000)]
    )
    ones = np.concatenate(
        [
            rng.uniform(-1.0, 1.0, 300_000),
            np.exp(rng.uniform(-745.0, 0.0, 300_000)),
            rng.uniform(1.0, 1e4, 300_000),
        ]
    )
    for loop, reference, x in ((_log_loop, np.log, logs), (_log1p_loop, np.log1p, ones)):
        got = np.empty_like(x)
        loop(x, got)
        expected = _rounded(reference, x)
        ulps = _ulps64(np.abs(got), np.abs(expected))
        assert np.array_equal(np.signbit(got), np.signbit(expected)), reference.__name__
        assert ulps.max() <= 1, (reference.__name__, x[np.argmax(ulps)])


LOG_LIMITS = [
    0.0,
    -0.0,
    -1.0,
    -2.0,
    1.0,
    np.inf,
    -np.inf,
    np.nan,
    -np.nan,
    1e-45,  # float32's smallest subnormal (float64: a normal number)
    1e-40,
    1.1754942e-38,  # float32's largest subnormal
    5e-324,  # float64's smallest subnormal
    2.2250738585072009e-308,  # float64's largest subnormal
    np.finfo(np.float32).max,
    np.finfo(np.float64).max,
    -1e-30,
    np.nextafter(-1.0, 0.0),  # log1p's argument closest to -1
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_limits_are_those_of_np_log(dtype):
    # the exact values (0, -inf, inf, NaN, log(1) = 0, log1p(-0.0) = -0.0, log1p(tiny) = tiny),
    # and within 1 ulp of NumPy's at the edges of the subnormals and of the range
    with np.errstate(over="ignore"):
        x = np.array(LOG_LIMITS, dtype=dtype)
    for loop, reference in ((_log_loop, np.log), (_log1p_loop, np.log1p)):
        got = np.empty_like(x)
        loop(x, got)
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = reference(x)
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(got[~finite], expected[~finite])
        np.testing.assert_allclose(got[finite], expected[finite], rtol=np.finfo(dtype).eps, atol=0)
        exact = finite & ((expected == 0) | (np.abs(x) < 1e-30))
        np.testing.assert_array_equal(got[exact], expected[exact])
        np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(expected[exact]))


def test_in_numba_code_a_float64_log_is_the_vectorisable_form():
    # fdlibm's log, which the kernels inline, not the C library's per element (an ulp apart
    # on several percent of values near 1, so these 10,000 tell them apart); outside Numba,
    # NumPy's
    from softgrad.kernels.numba_math import _log_float64

    x = np.random.default_rng(6).uniform(0.5, 2.0, 10_000)
    got = _is_the_form(_log_loop, _log_float64, x)
    assert not np.array_equal(got, [math.log(v) for v in x])
    np.testing.assert_array_equal(log(x), np.log(x))
    np.testing.assert_array_equal(log1p(x), np.log1p(x))

"""softmax / log_softmax / logsumexp forward values: the numerics list of issue 2, case by case.

Hypothesis versions of the same properties live in test_properties.py; these are the named
edge cases with their exact expected outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.functional import (
    log_softmax,
    log_softmax_jacobian,
    log_softmax_vjp,
    logsumexp,
    softmax,
    softmax_jacobian,
    softmax_vjp,
)

INF = np.inf
FLOATS = [np.float16, np.float32, np.float64]


def _reference_softmax(x, axis):
    # the textbook formula in float64 (fine for moderate inputs)
    e = np.exp(np.asarray(x, np.float64) - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize(
    ("dtype", "rtol"), [(np.float16, 2e-3), (np.float32, 1e-6), (np.float64, 1e-13)]
)
@pytest.mark.parametrize(("shape", "axis"), [((7,), 0), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), 1)])
def test_values_match_textbook_formula(rng, close, dtype, rtol, shape, axis):
    x = rng.normal(size=shape).astype(dtype) * 3
    ref = _reference_softmax(x, axis)
    s = softmax(x, axis)
    assert s.dtype == dtype
    close(s, ref, rtol=rtol, atol=0, what="softmax")
    close(log_softmax(x, axis), np.log(ref), rtol=rtol, atol=rtol, what="log_softmax")
    lse = np.log(np.sum(np.exp(x.astype(np.float64)), axis=axis))
    # absolute error ~ eps * |max|: atol, since lse itself may be near 0
    close(logsumexp(x, axis), lse, rtol=rtol, atol=5 * rtol, what="logsumexp")
    close(logsumexp(x, axis, keepdims=True), np.expand_dims(lse, axis), rtol, 5 * rtol, "keepdims")


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_dtype_preserved_everywhere(dtype):
    x = np.array([[1.0, 2.0, 3.0]], dtype)
    for fn in (softmax, log_softmax, logsumexp, softmax_jacobian, log_softmax_jacobian):
        assert fn(x).dtype == dtype, fn.__name__
    assert softmax_vjp(softmax(x), x).dtype == dtype
    assert log_softmax_vjp(log_softmax(x), x).dtype == dtype


def test_float16_is_computed_in_float32():
    # float16 arithmetic would saturate exp(x - m)'s sum: 70000 entries of exp(0) = 1 exceed
    # float16's max (65504); computed in float32 each probability is 1/70000
    x = np.zeros(70000, np.float16)
    s = softmax(x)
    assert s.dtype == np.float16
    assert np.all(s == np.float16(1 / 70000)), s[:3]
    assert log_softmax(x)[0] == np.float16(-np.log(70000.0))
    assert logsumexp(x) == np.float16(np.log(70000.0))


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.bool_])
def test_int_and_bool_give_float64(dtype):
    x = np.array([0, 1, 1], dtype)
    s = softmax(x)
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, _reference_softmax(x.astype(np.float64), -1), rtol=1e-15)
    assert log_softmax(x).dtype == np.float64
    assert logsumexp(x).dtype == np.float64
    assert softmax_jacobian(x).dtype == np.float64


def test_python_lists_accepted():
    np.testing.assert_allclose(softmax([0.0, 0.0]), [0.5, 0.5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "row",
    [
        [1e4, -1e4, 0.0],
        [3e38, -3e38, 1e-30],
        [-3e38, -3e38, -3e38],
        [3e38, 3e38, 3e38],
        [3e38, 1e-45, -1e-45, 5.0],
    ],
)
def test_finite_input_never_gives_nan_or_inf(dtype, row):
    x = np.array(row, dtype)
    s = softmax(x)
    assert np.all(np.isfinite(s)), s
    assert abs(float(np.sum(s, dtype=np.float64)) - 1) < 1e-6
    assert np.isfinite(logsumexp(x)), logsumexp(x)
    vjp = softmax_vjp(s, np.ones_like(x))
    assert np.all(np.isfinite(vjp)), vjp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_finite_while_representable(dtype):
    big = np.finfo(dtype).max / 4  # max - min = max / 2: representable
    x = np.array([big, -big, 0.0, 1.0], dtype)
    logp = log_softmax(x)
    assert np.all(np.isfinite(logp)), logp
    assert logp[0] == 0 and logp[1] == -2 * big


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [1, 2, 3, 10, 100])
def test_log_probabilities_are_never_above_zero(rng, dtype, n_classes):
    # the unshifted path rounds exp(x) before the sum: one dominant entry (every entry of a
    # single class) came out up to a rounding above 0, log_softmax([[0.3]]) = 4.6e-8 in float32
    x = rng.normal(scale=4.0, size=(256, n_classes))
    x[:, 0] += rng.uniform(0.0, 40.0, size=256)  # rows from balanced to one dominant entry
    x = x.astype(dtype)
    for axis, rows in ((-1, x), (0, np.ascontiguousarray(x.T))):
        logp = log_softmax(rows, axis=axis)
        assert logp.max() <= 0, float(logp.max())
    single = log_softmax(np.full((4, 1), 0.3, dtype))  # log(1) = 0, to a rounding below
    assert np.all((single <= 0) & (single >= -np.finfo(dtype).eps)), single


def test_log_softmax_overflowing_range_rounds_to_minus_inf_like_ieee():
    # documented: log s = -6e38 is beyond float32; it rounds to -inf (probability 0 anyway)
    logp = log_softmax(np.array([3e38, -3e38], np.float32))
    assert logp[0] == 0 and logp[1] == -INF


def test_shift_invariance_exact_for_large_offsets(close):
    x = np.array([0.5, -1.0, 2.0])
    close(softmax(x + 1e6), softmax(x), rtol=1e-9, atol=0, what="shift by 1e6")


def test_where_masks_entries_exactly():
    x = np.array([[1.0, 50.0, 2.0], [3.0, 4.0, 5.0]])
    mask = np.array([[True, False, True], [False, False, False]])
    s = softmax(x, where=mask)
    # masked entries get exactly 0, the 50.0 does not enter the shift, the empty row is 0 not NaN
    np.testing.assert_array_equal(s[1], [0.0, 0.0, 0.0])
    assert s[0, 1] == 0.0
    np.testing.assert_allclose(s[0, [0, 2]], _reference_softmax([1.0, 2.0], -1), rtol=1e-15)
    logp = log_softmax(x, where=mask)
    np.testing.assert_array_equal(logp[1], [-INF, -INF, -INF])
    assert logp[0, 1] == -INF
    np.testing.assert_allclose(logp[0, [0, 2]], np.log(s[0, [0, 2]]), rtol=1e-14)
    lse = logsumexp(x, where=mask)
    assert lse[1] == -INF
    np.testing.assert_allclose(lse[0], np.log(np.exp(1.0) + np.exp(2.0)), rtol=1e-15)


def test_where_masked_entries_may_hold_anything():
    x = np.array([np.nan, INF, -INF, 1.0, 3e38])
    mask = np.array([False, False, False, True, False])
    np.testing.assert_array_equal(softmax(x, where=mask), [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(log_softmax(x, where=mask), [-INF, -INF, -INF, 0, -INF])


def test_where_broadcasts_along_rows():
    x = np.arange(6.0).reshape(2, 3)
    s = softmax(x, where=np.array([True, True, False]))
    np.testing.assert_array_equal(s[:, 2], [0.0, 0.0])
    np.testing.assert_allclose(s.sum(axis=1), [1.0, 1.0])


def test_where_gradients_are_exactly_zero(rng):
    x = rng.normal(size=(3, 4))
    mask = np.array([[True, False, True, True], [False] * 4, [True, True, False, False]])
    g = rng.normal(size=x.shape)
    grad = softmax_vjp(softmax(x, where=mask), g)
    assert np.all(grad[~mask] == 0.0), grad
    grad = log_softmax_vjp(log_softmax(x, where=mask), g)
    assert np.all(grad[~mask] == 0.0), grad
    assert np.all(np.isfinite(grad))


def test_posinf_entries_share_the_mass():
    x = np.array([[INF, 1.0, INF, -INF], [INF, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(softmax(x), [[0.5, 0, 0.5, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(
        log_softmax(x), [[-np.log(2), -INF, -np.log(2), -INF], [0, -INF, -INF, -INF]]
    )
    np.testing.assert_array_equal(logsumexp(x), [INF, INF])
    mask = np.array([True, True, False, True])  # the masked +inf does not take a share
    np.testing.assert_array_equal(softmax(x, where=mask)[0], [1, 0, 0, 0])


def test_nan_confined_to_its_slice():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0], [np.nan, INF, 0.0]])
    for fn in (softmax, log_softmax):
        y = fn(x)
        assert np.all(np.isnan(y[0])) and np.all(np.isnan(y[2])), fn.__name__
        assert np.all(np.isfinite(y[1])), fn.__name__
    lse = logsumexp(x)
    assert np.isnan(lse[0]) and np.isnan(lse[2]) and np.isfinite(lse[1])


def test_nan_along_axis_zero_stays_in_its_column():
    x = np.array([[1.0, np.nan], [2.0, 3.0]])
    s = softmax(x, axis=0)
    assert np.all(np.isnan(s[:, 1])) and np.all(np.isfinite(s[:, 0]))


def test_all_neg_inf_slice():
    x = np.array([[-INF, -INF], [0.0, -INF]])
    assert np.all(np.isnan(softmax(x)[0])) and np.all(np.isnan(log_softmax(x)[0]))
    np.testing.assert_array_equal(softmax(x)[1], [1.0, 0.0])
    np.testing.assert_array_equal(logsumexp(x), [-INF, 0.0])


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
def test_empty_arrays(shape):
    for axis in range(-len(shape), len(shape)):
        x = np.zeros(shape, np.float32)
        assert softmax(x, axis).shape == shape
        assert log_softmax(x, axis).shape == shape
        lse = logsumexp(x, axis)
        assert lse.shape == tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
        assert np.all(lse == -INF)  # log of an empty sum
        n = shape[axis]
        lead = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
        assert softmax_jacobian(x, axis).shape == (*lead, n, n)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_out_buffer(rng, fn):
    x = rng.normal(size=(4, 5)).astype(np.float32)
    expected = fn(x)
    out = np.empty_like(x)
    assert fn(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert fn(x, out=x) is x  # in place
    np.testing.assert_array_equal(x, expected)
    x16 = np.zeros((2, 3), np.float16)
    out16 = np.empty_like(x16)
    assert fn(x16, out=out16) is out16
    np.testing.assert_array_equal(out16, fn(x16))


@pytest.mark.parametrize("fn", [softmax, log_softmax, logsumexp])
def test_bad_arguments(fn):
    name = fn.__name__
    with pytest.raises(
        ValueError, match=rf"^{name}: axis must be in \[-2, 1\] for 2-d input; got -3$"
    ):
        fn(np.zeros((2, 3)), axis=-3)
    with pytest.raises(TypeError, match=rf"^{name}: axis must be an int; got None$"):
        fn(np.zeros((2, 3)), axis=None)
    with pytest.raises(ValueError, match=rf"^{name}: x must have at least 1 dimension"):
        fn(np.float64(1.0))
    with pytest.raises(
        TypeError, match=rf"^{name}: x must be a real array .*; got dtype 'complex128'$"
    ):
        fn(np.zeros(3, complex))
    with pytest.raises(
        TypeError, match=rf"^{name}: where must be a bool array; got dtype 'int64'$"
    ):
        fn(np.zeros(3), where=np.ones(3, np.int64))
    with pytest.raises(
        ValueError,
        match=rf"^{name}: where must be broadcastable to x's shape \(2, 3\); got shape \(2,\)$",
    ):
        fn(np.zeros((2, 3)), where=np.ones(2, bool))


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_bad_out(fn):
    name = fn.__name__
    with pytest.raises(
        ValueError, match=rf"^{name}: out must have shape \(2, 3\); got shape \(3, 2\)$"
    ):
        fn(np.zeros((2, 3)), out=np.zeros((3, 2)))
    with pytest.raises(TypeError, match=rf"^{name}: out must have dtype 'float64'; got 'float32'$"):
        fn(np.zeros((2, 3)), out=np.zeros((2, 3), np.float32))
    with pytest.raises(
        TypeError, match=rf"^{name}: out must be a numpy.ndarray or None; got 'list'$"
    ):
        fn(np.zeros(2), out=[0.0, 0.0])


# rows 140-145 fail the unshifted strategy's check (sum < 1, overflow, NaN, +-inf): a call
# holding them takes the shifted strategy for them (on the NumPy lane apart from the other
# rows, in a call this large; on the Numba lane for their blocks); the other rows alone pass it
_FAILING = [140, 141, 142, 143, 144, 145]


def _mixed_rows(rng, dtype, n_rows=300, n=1000):
    # rows that must take the shifted strategy (see _FAILING)
    x = rng.normal(size=(n_rows, n)).astype(dtype) * 3
    x[140] = -200.0  # every exp underflows: sum < 1
    x[141, :3] = [3e38, -3e38, 1e-30]  # exp overflows
    x[142, 5] = np.nan
    x[143, [1, 7]] = INF
    x[144] = -INF
    x[145] = x[145] - 80.0  # sum < 1 but finite: the shift keeps tiny probabilities exact
    return x


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float32, 4e-6), (np.float64, 1e-14)])
def test_fast_path_and_shifted_path_both_accurate(rng, close, dtype, rtol):
    # the passing rows alone take the unshifted strategy; all rows (and the transposed array
    # along axis 0) the shifted one for the failing rows: each must match a float64
    # reference, NaN for NaN
    x = _mixed_rows(rng, dtype)
    passing = np.delete(np.arange(300), _FAILING)
    ref = _reference_softmax(np.where(np.isinf(x), 0.0, x), -1)  # finite rows; fixed below
    ref[143] = [0, 0.5] + [0] * 5 + [0.5] + [0] * 992
    ref[[142, 144]] = np.nan
    with np.errstate(divide="ignore"):  # log(0) = -inf for the +inf row's other entries
        ref_log = np.log(ref)
    close(softmax(x[passing]), ref[passing], rtol=rtol, atol=1e-37, what="softmax unshifted")
    fast = softmax(x)
    shifted = softmax(np.ascontiguousarray(x.T), axis=0).T
    close(fast, ref, rtol=rtol, atol=1e-37, what="softmax rows, shifted")
    close(shifted, ref, rtol=rtol, atol=1e-37, what="softmax shifted path")
    finite = np.delete(np.arange(300), [141, 142, 143, 144])
    fast_log = log_softmax(x)
    shifted_log = log_softmax(np.ascontiguousarray(x.T), axis=0).T
    unshifted = log_softmax(x[passing])
    close(unshifted, ref_log[passing], rtol, rtol * 10, what="log_softmax unshifted")
    for got, what in [(fast_log, "fast"), (shifted_log, "shifted")]:
        close(got[finite], ref_log[finite], rtol, rtol * 10, what=f"log_softmax {what} path")
        assert np.all(np.isnan(got[[142, 144]])), what
    g = rng.normal(size=x.shape).astype(dtype)
    s = np.nan_to_num(fast)
    ref_vjp = s.astype(np.float64) * (g - np.sum(g * s.astype(np.float64), -1, keepdims=True))
    blocked = softmax_vjp(s, g)
    general = softmax_vjp(np.ascontiguousarray(s.T), np.ascontiguousarray(g.T), axis=0).T
    close(blocked, ref_vjp, rtol=rtol * 10, atol=rtol * 1e-2, what="vjp blocked path")
    close(general, ref_vjp, rtol=rtol * 10, atol=rtol * 1e-2, what="vjp general path")
    # log-softmax VJP: the middle block holds -inf log-probabilities (row 143) and NaN rows
    blocked = log_softmax_vjp(fast_log, g)
    general = log_softmax_vjp(np.ascontiguousarray(fast_log.T), np.ascontiguousarray(g.T), axis=0).T
    close(blocked, general, rtol=rtol * 10, atol=rtol, what="log_softmax_vjp blocked vs general")
    assert np.all(blocked[143][fast_log[143] == -INF] == 0)
    # logsumexp: blocked rows (with fallback blocks) vs the shifted kernel on axis 0
    lse_rows = logsumexp(x)
    lse_cols = logsumexp(np.ascontiguousarray(x.T), axis=0)
    close(lse_rows, lse_cols, rtol=rtol, atol=rtol, what="logsumexp blocked vs shifted")
    assert np.isnan(lse_rows[142]) and lse_rows[143] == INF and lse_rows[144] == -INF


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_in_place_with_fallback_keeps_input_for_the_fallback(rng, fn):
    x = _mixed_rows(rng, np.float32)
    expected = fn(x)
    assert fn(x, out=x) is x
    np.testing.assert_array_equal(x, expected)


def test_tiny_probabilities_are_not_flushed_by_the_fast_path():
    # a row summing to >= 1 takes the fast path; exp(-100) is a float32 subnormal either way
    x = np.array([[0.0, -100.0, -20.0], [-100.0, -120.0, -101.0]], np.float32)
    s = softmax(x)
    np.testing.assert_allclose(s[0, 2], np.exp(-20.0), rtol=1e-6)
    # second row: sum < 1, shifted: its second entry is exp(-20) / (1 + e^-1 + e^-20)
    np.testing.assert_allclose(s[1, 1], np.exp(-20.0) / (1 + np.exp(-1.0)), rtol=1e-5)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_in_place_with_where_and_inf(fn):
    x = np.array([[INF, 1.0, INF, 5.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    mask = np.array([[True, True, False, True], [True, False, True, True], [False] * 4])
    expected = fn(x, where=mask)
    y = x.copy()
    assert fn(y, where=mask, out=y) is y
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(np.exp(y[0]) if fn is log_softmax else y[0], [1, 0, 0, 0])


@pytest.mark.parametrize("n_classes", [2, 10, 1000])
@pytest.mark.parametrize("logit", [88.0, 88.7])
def test_float32_rows_whose_exps_sum_near_float32s_limit_still_sum_to_one(n_classes, logit):
    # exp(88.7) = 3.3e38: the sums of these rows pass float32's range (or come near it), where
    # unshifted exps gave a subnormal 1 / S (a few bits kept, rows summing to 1.0020) or an
    # infinite stored sum; the shift keeps every entry 1 / C
    x = np.full((3, n_classes), logit, np.float32)
    x[2, 0] = np.float32(logit) - np.float32(1.0)
    s = softmax(x)
    expected = _reference_softmax(x, -1)
    np.testing.assert_allclose(s, expected, rtol=4 * np.finfo(np.float32).eps, atol=0)
    np.testing.assert_allclose(s.sum(axis=1, dtype=np.float64), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(log_softmax(x).astype(np.float64)), expected, rtol=1e-6)


@pytest.mark.parametrize("offset", [10.0, 20.0, 40.0, 80.0])
@pytest.mark.parametrize("n_classes", [10, 100])
def test_float32_log_softmax_keeps_float32s_precision_at_large_logits(rng, offset, n_classes):
    # the unshifted path's x - log(S) took log(S) (tens) rounded to float32: up to 32 roundings
    # of error on log-probabilities near 0 (PyTorch's shifted kernel: 2); within 4 now
    x = (offset + 3 * rng.standard_normal((512, n_classes))).astype(np.float32)
    x64 = x.astype(np.float64)
    shifted = x64 - np.max(x64, axis=1, keepdims=True)
    expected = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    err = np.abs(log_softmax(x) - expected) / np.maximum(1.0, np.abs(expected))
    assert err.max() <= 4 * np.finfo(np.float32).eps, err.max()

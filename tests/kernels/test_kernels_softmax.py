"""The normalisation kernels' contracts: out= buffers, in-place, edge cases, both strategies.

Kernels trust their inputs (float32/64, shapes checked by the callers); these tests call them
directly through get_ops(), as layers do.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import NumpyOps, get_ops
from softgrad.kernels.softmax import APART_MIN

INF = np.inf
# float32 softmax of C = 10 entries: a few roundings of exp, sum and divide
TOL = {np.float32: 1e-6, np.float64: 1e-14}


def _reference_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.fixture
def ops():
    return get_ops()


def test_get_ops_is_a_numpy_ops():
    assert isinstance(get_ops(), NumpyOps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_rows_unshifted_when_every_sum_is_at_least_one(ops, rng, dtype):
    x = rng.normal(size=(6, 10)).astype(dtype) + 1.0
    e = np.empty_like(x)
    total, shift, rows = ops.exp_rows(x, e)
    assert shift is None and rows is None
    np.testing.assert_array_equal(e, np.exp(x))
    np.testing.assert_allclose(total[:, 0], np.exp(x).sum(1), rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_rows_shifted_limits(ops, dtype):
    x = np.array(
        [[-200.0, -201.0, -202.0], [INF, 0.0, INF], [np.nan, 0.0, 1.0], [-INF, -INF, -INF]], dtype
    )
    e = np.empty_like(x)
    total, shift, rows = ops.exp_rows(x, e)  # every row fails the check: one strategy
    assert shift is not None and shift.shape == (4, 1) and rows is None
    assert shift[0, 0] == -200.0 and shift[1, 0] == INF and shift[3, 0] == -INF
    np.testing.assert_allclose(e[0], np.exp([0.0, -1.0, -2.0]), rtol=TOL[dtype])
    np.testing.assert_array_equal(e[1], [1.0, 0.0, 1.0])  # the +inf entries share the mass
    assert total[1, 0] == 2.0
    assert np.isnan(total[2, 0])  # NaN stays in its row
    assert np.all(np.isnan(e[3])) and total[3, 0] == 1.0  # no softmax; logsumexp -inf
    assert np.all(total[~np.isnan(total)] > 0)  # dividing by total never warns


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_rows_shifts_the_rows_that_fail_apart(ops, rng, dtype):
    # two rows fail the check (a sum beyond UNSHIFTED_MAX, one below 1): in a call of
    # APART_MIN entries they alone are shifted, the others keep their unshifted exps
    x = rng.normal(size=(APART_MIN // 10 + 1, 10)).astype(dtype)
    x[1, 3], x[4] = 60.0, -200.0
    e = np.empty_like(x)
    total, shift, rows = ops.exp_rows(x, e)
    np.testing.assert_array_equal(rows, [1, 4])
    assert shift is not None and shift.shape == (2, 1)
    assert shift[0, 0] == 60.0 and shift[1, 0] == x[4].max()
    kept = np.setdiff1d(np.arange(len(x)), rows)
    np.testing.assert_array_equal(e[kept], np.exp(x[kept]))
    np.testing.assert_allclose(e[rows], np.exp(x[rows] - shift), rtol=TOL[dtype])
    np.testing.assert_allclose(total[:, 0], e.astype(np.float64).sum(1), rtol=TOL[dtype] * 4)
    x[: len(x) // 3 + 1] = 100.0  # more than a third of the rows fail: the whole call shifted
    total, shift, rows = ops.exp_rows(x, e)
    assert rows is None and shift is not None and shift.shape == (len(x), 1)
    small = x[:6]  # a call under APART_MIN entries: shifted whole
    total, shift, rows = ops.exp_rows(small, np.empty_like(small))
    assert rows is None and shift is not None and shift.shape == (6, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(128, 10), (3, 1), (1, 7)])
def test_softmax_into_out_and_in_place(ops, rng, dtype, shape):
    x = (rng.normal(size=shape) * 3).astype(dtype)
    expected = _reference_softmax(x)
    out = np.empty_like(x)
    assert ops.softmax(x, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=TOL[dtype] * 4, atol=1e-30)
    y = x.copy()
    assert ops.softmax(y, out=y) is y
    np.testing.assert_array_equal(y, out)  # the same path, in place: bit for bit
    assert ops.softmax(x).dtype == dtype


def test_softmax_scale(ops, rng):
    x = rng.normal(size=(5, 4))
    np.testing.assert_allclose(ops.softmax(x, scale=0.25), 0.25 * ops.softmax(x), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_when_the_check_fails_keeps_the_input_for_the_shifted_strategy(ops, dtype):
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1.0, 2.0]], dtype)  # exp(1e4) overflows
    expected = ops.softmax(x.copy())
    y = x.copy()
    ops.softmax(y, out=y)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_allclose(y[0], [1.0, 0.0, 0.0])
    z = x.copy()
    ops.log_softmax(z, out=z)
    np.testing.assert_array_equal(z, ops.log_softmax(x))
    assert z[0, 0] == 0.0 and z[0, 1] == -1e4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_rows_stay_nan_and_other_rows_are_untouched(ops, rng, dtype):
    x = rng.normal(size=(4, 5)).astype(dtype)
    x[2, 3] = np.nan
    s = ops.softmax(x)
    logp = ops.log_softmax(x)
    lse = ops.logsumexp(x)
    assert np.all(np.isnan(s[2])) and np.all(np.isnan(logp[2])) and np.isnan(lse[2])
    keep = [0, 1, 3]
    np.testing.assert_allclose(s[keep], _reference_softmax(x[keep]), rtol=TOL[dtype] * 4)


def test_infinities(ops):
    x = np.array([[INF, 1.0, INF], [-INF, 0.0, -INF], [-INF, -INF, -INF]])
    with np.errstate(
        over="raise", divide="raise", invalid="raise"
    ):  # the kernels silence exactly what they document
        s = ops.softmax(x)
        logp = ops.log_softmax(x)
        lse = ops.logsumexp(x)
    np.testing.assert_array_equal(s[0], [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(s[1], [0.0, 1.0, 0.0])
    assert np.all(np.isnan(s[2])) and np.all(np.isnan(logp[2]))
    np.testing.assert_array_equal(logp[0], [-np.log(2.0), -INF, -np.log(2.0)])
    np.testing.assert_array_equal(logp[1], [-INF, 0.0, -INF])
    np.testing.assert_array_equal(lse, [INF, 0.0, -INF])


def test_masked_rows(ops):
    x = np.array([[1.0, np.nan, 1.0], [5.0, 6.0, 7.0]])
    where = np.array([[True, False, True], [False, False, False]])
    s = ops.softmax(x, where=where)
    np.testing.assert_array_equal(s, [[0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])
    logp = ops.log_softmax(x, where=where)
    np.testing.assert_array_equal(logp, [[-np.log(2.0), -INF, -np.log(2.0)], [-INF] * 3])
    np.testing.assert_array_equal(ops.logsumexp(x, where=where), [1.0 + np.log(2.0), -INF])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_axis_matches_the_last_axis(ops, rng, dtype):
    x = rng.normal(size=(3, 4, 5)).astype(dtype)
    for axis in range(3):
        moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
        out = np.empty_like(x)
        ops.softmax(x, axis, out=out)
        np.testing.assert_array_equal(np.moveaxis(out, axis, -1), ops.softmax(moved))
        np.testing.assert_array_equal(
            np.moveaxis(ops.log_softmax(x, axis), axis, -1), ops.log_softmax(moved)
        )
        # the shape without the axis is the moved array's leading shape
        np.testing.assert_array_equal(ops.logsumexp(x, axis), ops.logsumexp(moved))


@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 0)])
def test_empty(ops, shape):
    x = np.empty(shape, np.float32)
    assert ops.softmax(x).shape == shape
    assert ops.log_softmax(x).shape == shape
    lse = ops.logsumexp(x)
    assert lse.shape == shape[:1] and lse.dtype == np.float32
    assert np.all(lse == -INF)  # the log of an empty sum


@pytest.mark.parametrize("n_classes", [4, 100], ids=["short rows", "long rows"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_softmax_rows_sum_to_the_scale_on_both_lanes(kernel_lane, n_classes, dtype, rng):
    # 100 classes: the Numba lane's long rows (numba_exp_rows.LONG_ROW) take their own kernel
    x = rng.normal(size=(3, n_classes)).astype(dtype)
    ops = get_ops()
    scaled, plain = ops.softmax(x, scale=0.25), ops.softmax(x)
    tol = 4 * np.finfo(dtype).eps
    err = np.abs(scaled - 0.25 * plain)
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    assert err[worst] <= tol, (
        f"expected {0.25 * plain[worst]!r}, got {scaled[worst]!r} at {tuple(map(int, worst))}"
    )

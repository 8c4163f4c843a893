"""Hypothesis property tests for the numerics list of issue 2.

Sums to 1, shift invariance, finite in -> finite out (down to +-3e38 and mixed huge/tiny values),
masked entries exactly 0 (-inf) with zero gradients, fully masked slices, +inf entries sharing
the mass, NaN confined to its slice, dtype rule, any axis, N-d and empty input.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softgrad.functional import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    log_softmax_vjp,
    logsumexp,
    softmax,
    softmax_vjp,
)

FLOAT_DTYPES = [np.float16, np.float32, np.float64]
EXTREMES = [0.0, 1e-30, -1e-30, 1e-45, 1e4, -1e4, 3e38, -3e38]


def _elements(dtype):
    """Ordinary, huge and tiny finite values of ``dtype``."""
    width = np.dtype(dtype).itemsize * 8
    limit = float(np.finfo(dtype).max)
    return st.one_of(
        st.floats(-50, 50, width=width),
        # each value as the dtype holds it (1e-30 is not a float32): NumPy 1.x's hypothesis
        # check refused the float64 1e-30 for a float32 array, and 1e-45 rounds to 0 or 1.4e-45
        st.sampled_from([float(np.dtype(dtype).type(v)) for v in EXTREMES if abs(v) <= limit]),
        st.floats(-limit, limit, width=width),
    )


@st.composite
def finite_arrays(draw, dtypes=(np.float32, np.float64), min_side=1, max_dims=3):
    """(x, axis): finite arrays of 1-3 dims mixing ordinary, huge and tiny values."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=min_side, max_side=5))
    x = draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return x, axis


# row lengths on both sides of the Numba lane's limits: in-order sums below 32 entries
# (numba_exp_rows.SHORT_ROW), rows of 64 and more one at a time (LONG_ROW), blocks of 2,048
# (SOFTMAX_BLOCK); finite_arrays' sides of at most 5 never reached them
LONG_SIDES = [31, 32, 33, 63, 64, 65, 2047, 2048, 2049]


@st.composite
def long_rows(draw, dtypes=(np.float32, np.float64)):
    """(x, -1): 1-3 rows of a length from LONG_SIDES, most entries one drawn value and the
    others drawn as finite_arrays draws them (ordinary, huge and tiny)."""
    dtype = draw(st.sampled_from(dtypes))
    shape = (draw(st.integers(1, 3)), draw(st.sampled_from(LONG_SIDES)))
    fill = st.floats(-50, 50, width=np.dtype(dtype).itemsize * 8)
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype), fill=fill)), -1


def any_rows(max_dims=3):
    """finite_arrays' cases or long_rows'."""
    return st.one_of(finite_arrays(max_dims=max_dims), long_rows())


def _slices(a, axis):
    """The array with the softmax axis last, flattened to (M, C)."""
    moved = np.moveaxis(np.asarray(a), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


@given(any_rows())
def test_softmax_is_a_distribution(case):
    x, axis = case
    s = softmax(x, axis)
    assert s.dtype == x.dtype and s.shape == x.shape
    assert np.all(np.isfinite(s)) and np.all(s >= 0) and np.all(s <= 1)
    sums = np.sum(s.astype(np.float64), axis=axis)
    tol = 1e-5 if x.dtype == np.float32 else 1e-12
    assert np.all(np.abs(sums - 1) <= tol * x.shape[axis]), sums


@given(finite_arrays(), st.floats(-100, 100))
def test_shift_invariance(case, c):
    x, axis = case
    x = np.clip(x, -1e4, 1e4).astype(x.dtype)  # keep x + c exact enough to compare
    shifted = (x.astype(np.float64) + c).astype(x.dtype)
    # compare against softmax of the same rounded values: the shift itself must not matter
    delta = shifted.astype(np.float64) - x.astype(np.float64)
    assume(np.all(delta == delta.flat[0]))
    tol = 1e-5 if x.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(softmax(shifted, axis), softmax(x, axis), rtol=tol, atol=tol)


@given(any_rows())
def test_finite_in_finite_out(case):
    x, axis = case
    s = softmax(x, axis)
    assert np.all(np.isfinite(logsumexp(x, axis)))
    g = np.ones_like(x)
    assert np.all(np.isfinite(softmax_vjp(s, g, axis)))
    logp = log_softmax(x, axis)
    with np.errstate(over="ignore"):  # a float64 spread may itself overflow: inf
        spread = np.max(x.astype(np.float64), axis=axis) - np.min(x.astype(np.float64), axis=axis)
    representable = spread + np.log(x.shape[axis]) < float(np.finfo(x.dtype).max)
    # log_softmax is finite wherever its true value is representable (documented)
    assert np.all(np.isfinite(_slices(logp, axis)[representable.reshape(-1)]))
    assert np.all(np.isfinite(log_softmax_vjp(logp, g, axis)))


@given(any_rows(max_dims=2), st.data())
def test_cross_entropy_finite_for_finite_logits(case, data):
    x, axis = case
    n = x.shape[axis]
    lead = tuple(d for i, d in enumerate(x.shape) if i != axis % x.ndim)
    target = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, n - 1)))
    eps = data.draw(st.sampled_from([0.0, 0.1]))
    grad = cross_entropy_grad(x, target, axis=axis, label_smoothing=eps)
    assert np.all(np.isfinite(grad))
    loss = cross_entropy(x, target, axis=axis, label_smoothing=eps, reduction="none")
    # each loss is at most the row's spread + log(C): finite whenever that is representable
    with np.errstate(over="ignore"):  # a float64 spread may itself overflow: inf
        spread = np.ptp(x.astype(np.float64), axis=axis) + np.log(n)
    representable = (spread < float(np.finfo(x.dtype).max)).reshape(loss.shape)
    assert np.all(np.isfinite(loss[representable])), loss
    # the gradient of a mean loss: each slice sums to 0 (softmax and target both sum to 1)
    assert np.all(np.abs(np.sum(grad.astype(np.float64), axis=axis)) <= 1e-5)


@given(any_rows(), st.data())
def test_where_masked_entries_exact(case, data):
    x, axis = case
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    s = softmax(x, axis, where=mask)
    logp = log_softmax(x, axis, where=mask)
    assert np.all(s[~mask] == 0) and np.all(logp[~mask] == -np.inf)
    assert np.all(np.isfinite(s))
    empty = ~np.any(_slices(mask, axis), axis=-1)  # slices with no selected entry
    assert np.all(_slices(s, axis)[empty] == 0)
    assert np.all(_slices(logp, axis)[empty] == -np.inf)
    lse = np.asarray(logsumexp(x, axis, where=mask)).reshape(-1)
    assert np.all(lse[empty] == -np.inf) and np.all(np.isfinite(lse[~empty]))
    sums = np.sum(_slices(s, axis).astype(np.float64), axis=-1)
    assert np.all(np.abs(sums[~empty] - 1) <= 1e-4)
    g = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.floats(-10, 10, width=32)))
    assert np.all(softmax_vjp(s, g, axis)[~mask] == 0)
    assert np.all(log_softmax_vjp(logp, g, axis)[~mask] == 0)


@given(any_rows(), st.data())
def test_posinf_entries_share_the_mass(case, data):
    x, axis = case
    hits = data.draw(hnp.arrays(np.bool_, x.shape))
    x = np.where(hits, np.inf, x).astype(x.dtype)
    s = _slices(softmax(x, axis), axis)
    h = _slices(hits, axis)
    k = h.sum(axis=-1, keepdims=True)
    rows = k[:, 0] > 0
    expected = np.where(h, 1.0 / np.maximum(k, 1), 0.0)
    np.testing.assert_allclose(
        s[rows], expected[rows], rtol=1e-3 if x.dtype == np.float16 else 1e-6
    )
    logp = _slices(log_softmax(x, axis), axis)
    assert np.all(logp[rows][~h[rows]] == -np.inf)
    assert np.all(np.asarray(logsumexp(x, axis)).reshape(-1)[rows] == np.inf)


@given(finite_arrays(), st.data())
def test_nan_confined_to_its_slice(case, data):
    x, axis = case
    where_nan = data.draw(hnp.arrays(np.bool_, x.shape))
    x = np.where(where_nan, np.nan, x).astype(x.dtype)
    poisoned = np.any(_slices(where_nan, axis), axis=-1)
    for fn in (softmax, log_softmax):
        y = _slices(fn(x, axis), axis)
        assert np.all(np.isnan(y[poisoned])), fn.__name__
        assert not np.any(np.isnan(y[~poisoned])), fn.__name__
    lse = np.asarray(logsumexp(x, axis)).reshape(-1)
    assert np.all(np.isnan(lse[poisoned])) and not np.any(np.isnan(lse[~poisoned]))


@given(finite_arrays(), st.data())
def test_all_neg_inf_slices(case, data):
    x, axis = case
    x = np.moveaxis(x.copy(), axis, -1)
    dead = data.draw(hnp.arrays(np.bool_, x.shape[:-1]))
    x[dead] = -np.inf
    x = np.moveaxis(x, -1, axis)
    s = _slices(softmax(x, axis), axis)
    assert np.all(np.isnan(s[dead.reshape(-1)])) and np.all(np.isfinite(s[~dead.reshape(-1)]))
    lse = np.asarray(logsumexp(x, axis)).reshape(-1)
    assert np.all(lse[dead.reshape(-1)] == -np.inf)


@given(finite_arrays(dtypes=tuple(FLOAT_DTYPES)))
def test_dtype_preserved(case):
    x, axis = case
    for fn in (softmax, log_softmax, logsumexp):
        assert fn(x, axis).dtype == x.dtype, fn.__name__


@given(
    hnp.arrays(
        st.sampled_from([np.int8, np.int32, np.uint16, np.bool_]), hnp.array_shapes(max_dims=3)
    )
)
def test_int_and_bool_promote_to_float64(x):
    for fn in (softmax, log_softmax, logsumexp):
        assert fn(x).dtype == np.float64
    np.testing.assert_allclose(softmax(x), softmax(x.astype(np.float64)), rtol=0)


@given(finite_arrays(min_side=0))
def test_empty_and_any_shape(case):
    x, axis = case
    s = softmax(x, axis)
    assert s.shape == x.shape
    if x.shape[axis] == 0:
        assert np.all(np.asarray(logsumexp(x, axis)) == -np.inf)


@given(finite_arrays(dtypes=(np.float64,)))
def test_log_softmax_is_x_minus_logsumexp(case):
    x, axis = case
    x = np.clip(x, -1e4, 1e4)
    expected = x - logsumexp(x, axis, keepdims=True)
    np.testing.assert_allclose(log_softmax(x, axis), expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(softmax(x, axis), np.exp(expected), rtol=1e-9, atol=1e-300)


@given(st.integers(1, 5), st.integers(2, 5), st.data())
def test_cross_entropy_mean_of_all_ignored_is_zero(n, c, data):
    logits = data.draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-10, 10)))
    target = np.full(n, -100)
    assert cross_entropy(logits, target, ignore_index=-100) == 0.0
    assert np.all(cross_entropy_grad(logits, target, ignore_index=-100) == 0)

"""The NumPy lane shifts by their maximum only the rows that need it (softgrad.kernels.softmax's
``exp_rows``): in a call of ``APART_MIN`` entries or more where a few rows fail the unshifted
check, the other rows keep the unshifted formula, bit for bit what the call gives without the
failing rows, and the failing rows get the shifted formula's values. One such row took the
whole call to the shifted formula, at 2.3-4.7x its time, moving every row by roundings."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import functional as F
from softgrad.kernels.softmax import APART_MIN

pytestmark = pytest.mark.usefixtures("numpy_lane")
DTYPES = [np.float32, np.float64]
# rows that fail the unshifted check: a sum beyond 2**64, one below 1, +inf (once and twice),
# NaN, all -inf; and -inf beside finite values, which passes it
FAILING = [
    [60.0, 0.0, 1.0, 2.0, -1.0],
    [-200.0, -201.0, -199.0, -250.0, -200.5],
    [np.inf, 0.0, 1.0, 2.0, 3.0],
    [np.inf, np.inf, 1.0, -np.inf, 0.0],
    [np.nan, 0.0, 1.0, 2.0, 3.0],
    [-np.inf] * 5,
    [-np.inf, 0.0, 1.0, 2.0, 3.0],
]
N_ROWS = APART_MIN // 5 + 1  # rows of 5: the smallest call that shifts rows apart


def _batches(rng, dtype):
    """Logits with the FAILING rows at random places, the same logits with ordinary rows
    there instead, the places, and the rows to compute alone (those and a sample of others)."""
    clean = rng.standard_normal((N_ROWS, 5)) * 3
    # each row's maximum at least 0: every sum of exps in [1, 2**64], no row shifted
    clean = (clean - np.minimum(clean.max(axis=1, keepdims=True), 0.0)).astype(dtype)
    at = rng.choice(N_ROWS, size=len(FAILING), replace=False)
    x = clean.copy()
    x[at] = np.array(FAILING, dtype=dtype)
    sample = np.union1d(at, rng.choice(N_ROWS, size=40, replace=False))
    return x, clean, at, sample


def _each_alone(function, x, sample, *per_row):
    return np.concatenate(
        [function(x[i : i + 1], *(a[i : i + 1] for a in per_row)) for i in sample]
    )


def _check(function, x, clean, at, sample, agree, *per_row):
    """The rows not at ``at`` bit for bit as in ``clean``; every sampled row within a few
    roundings of itself alone (a call of one row shifts it whole, as it did)."""
    # no errstate: the apart rows' warnings stay inside (a caller's warnings are errors here)
    got = function(x, *per_row)
    others = np.setdiff1d(np.arange(N_ROWS), at)
    np.testing.assert_array_equal(got[others], function(clean, *per_row)[others])
    alone = _each_alone(function, x, sample, *per_row)
    magnitude = float(np.abs(x[np.isfinite(x)]).max())
    agree(got[sample], alone, 4, function.__name__, magnitude=magnitude)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax_shift_the_failing_rows_alone(dtype, rng, agree):
    x, clean, at, sample = _batches(rng, dtype)
    for function in (F.softmax, F.log_softmax):
        _check(function, x, clean, at, sample, agree)
        y = x.copy()  # in place: the shifted rows are read before out is written
        assert function(y, out=y) is y
        np.testing.assert_array_equal(y, function(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_shifts_the_failing_rows_alone(dtype, rng, agree):
    x, clean, at, sample = _batches(rng, dtype)
    y = rng.integers(0, 5, size=N_ROWS)
    y[at[0]] = 0  # the row of 60 on its max
    t = rng.dirichlet(np.ones(5), size=N_ROWS).astype(dtype)

    def cross_entropy(x, target):
        return F.cross_entropy(x, target, reduction="none")

    def cross_entropy_grad(x, target):
        return F.cross_entropy_grad(x, target, reduction="sum")

    for target in (y, t):
        _check(cross_entropy, x, clean, at, sample, agree, target)
        _check(cross_entropy_grad, x, clean, at, sample, agree, target)


@pytest.mark.parametrize("n_rows", [10, N_ROWS], ids=["small call", "over a third failing"])
def test_a_small_call_or_one_of_many_failing_rows_is_shifted_whole(n_rows, rng, agree):
    x = (rng.standard_normal((n_rows, 5)) * 3).astype(np.float32)
    x[: n_rows // 3 + 1, 0] = 100.0
    sample = np.arange(0, n_rows, max(1, n_rows // 50))
    expected = _each_alone(F.log_softmax, x, sample)
    agree(F.log_softmax(x)[sample], expected, 4, "log_softmax", magnitude=100.0)

"""softmax_rows_finite: the probabilities of softmax_rows, bit for bit, and whether the logits
held no NaN or infinity, which the softmax itself can hide (-inf gives a probability of 0, +inf
one of 1/k). Inference reads its logits once through it; the Numba lane counts the rows in the
softmax's own pass, the NumPy lane makes a pass of its own."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import NumpyOps, get_ops

try:  # the size from which the Numba lane's kernels run on its threads
    from softgrad.kernels.numba_threads import PARALLEL_MIN
except ImportError:  # no numba: the NumPy lane runs every shape alike
    PARALLEL_MIN = 1 << 20

TOL = {np.float32: 1e-6, np.float64: 1e-14}
BAD = [np.nan, np.inf, -np.inf]
# rows: one, a batch of logits, and enough elements for the Numba lane's threads
SHAPES = [(1, 1), (5, 10), (1024, 10), (PARALLEL_MIN // 10 + 7, 10)]


def _logits(rng, shape, dtype, bad_rows):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x[-1] = np.finfo(dtype).max  # finite, though a sum of the values would overflow
    for index, row in enumerate(bad_rows):
        x[row, index % shape[1]] = BAD[index % 3]
    return x


def _bad_rows(n_rows):
    return sorted({0, n_rows // 2, n_rows - 2} - {n_rows - 1}) if n_rows > 2 else []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("bad", [False, True], ids=["finite", "bad rows"])
def test_the_probabilities_are_softmax_rows_and_the_flag_says_whether_x_was_finite(
    shape, dtype, bad, rng
):
    bad_rows = _bad_rows(shape[0]) if bad else []
    x = _logits(rng, shape, dtype, bad_rows)
    ops = get_ops()
    e, expected = np.empty_like(x), np.empty_like(x)
    with np.errstate(all="ignore"):
        finite = ops.softmax_rows_finite(x, e)
        ops.softmax_rows(x, expected)
    assert finite is (not bad_rows)
    np.testing.assert_array_equal(e, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_lanes_agree(dtype, rng):
    pytest.importorskip("numba", reason="the Numba lane needs numba")
    from softgrad.kernels.numba_ops import NumbaOps

    for bad_rows in ([], [3], [0, 1023]):
        x = _logits(rng, (1024, 10), dtype, bad_rows)
        lanes = [NumpyOps(), NumbaOps()]
        outs = [np.empty_like(x) for _ in lanes]
        with np.errstate(all="ignore"):
            flags = [lane.softmax_rows_finite(x, o) for lane, o in zip(lanes, outs, strict=True)]
        assert flags == [not bad_rows] * 2
        np.testing.assert_allclose(outs[1], outs[0], rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("n_shares", [1, 2], ids=["calling thread", "two shares"])
def test_the_numba_kernel_counts_every_row_that_held_nan_or_inf(n_shares, rng):
    numba_softmax = pytest.importorskip("softgrad.kernels.numba_softmax")
    x = _logits(rng, (3000, 10), np.float32, [0, 1, 999, 1000, 2998])
    plain, checked = np.empty_like(x), np.empty_like(x)
    with np.errstate(all="ignore"):
        assert numba_softmax.softmax_rows(x, checked, 1.0, n_shares, True) == 5
        assert numba_softmax.softmax_rows(x, plain, 1.0, n_shares) == 0
    np.testing.assert_array_equal(checked, plain)  # the count changes no probability

"""logsumexp's Numba kernel gives the NumPy lane's results: m + log1p(r), r the other entries'
exps shifted by the maximum m, with the limits of a row holding NaN, +inf or only -inf.

The Numba lane took logsumexp to the NumPy lane, whose argmax, fancy indexing and exps took
2.5-4x its softmax's time (10x with a mask in float64, whose -inf entries fell on NumPy's
slow exp). Its kernel (numba_softmax.logsumexp_rows) takes short rows in blocks and long rows
one at a time, their maximum in running maxima, and must leave out the maximum's own term
exactly once however many entries tie with it; these tests hold both paths to the NumPy
lane, within a few roundings, on every kind of row.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels.numpy_ops import NumpyOps

pytest.importorskip("numba")

from softgrad.kernels.numba_ops import NumbaOps
from softgrad.kernels.numba_threads import PARALLEL_MIN

CLASSES = [1, 2, 10, 31, 63, 64, 100, 1000]


def _rows_of_every_kind(rng, n_rows, n_classes, dtype, scale):
    x = (rng.standard_normal((n_rows, n_classes)) * scale).astype(dtype)
    last = n_classes - 1
    kinds = [
        lambda r: r.__setitem__(0, np.nan),  # a NaN first (the running maxima start there)
        lambda r: r.__setitem__(last, np.nan),  # a NaN last
        lambda r: r.__setitem__(n_classes // 2, np.nan),
        lambda r: r.__setitem__(last, np.inf),
        lambda r: r.__setitem__(slice(None, None, 2), np.inf),  # k +inf entries
        lambda r: (r.__setitem__(0, np.inf), r.__setitem__(last, np.nan)),  # +inf, then NaN
        lambda r: r.__setitem__(slice(None), -np.inf),  # only -inf
        lambda r: r.__setitem__(slice(1, None, 2), -np.inf),  # a mask's -inf entries
        lambda r: r.__setitem__(slice(None), 5.0),  # every entry ties with the maximum
        lambda r: r.__setitem__(slice(last // 2, None), r.max()),  # half of them tie
        lambda r: (r.__setitem__(slice(None), -40.0), r.__setitem__(last, 0.0)),  # r = 4e-18
        lambda r: r.__setitem__(slice(None), 0.0),
    ]
    for row, kind in zip(x[: len(kinds)], kinds, strict=True):
        kind(row)
    return x


@pytest.mark.parametrize("scale", [0.01, 3.0, 60.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", CLASSES)
def test_every_kind_of_row_as_the_numpy_lane(n_classes, dtype, scale, rng, agree):
    x = _rows_of_every_kind(rng, 300, n_classes, dtype, scale)
    with np.errstate(all="ignore"):
        got = NumbaOps().logsumexp(x, axis=-1)
        expected = NumpyOps().logsumexp(x, axis=-1)
    magnitude = float(np.abs(x[np.isfinite(x)]).max())
    agree(got, expected, 4, "logsumexp", magnitude)
    assert got[10] > 0 or n_classes == 1  # the one-rounding term of [-40, ..., 0] is kept


@pytest.mark.parametrize("n_classes", [10, 100])
def test_the_threaded_shares_give_the_same_bits_as_the_calling_thread(n_classes, rng):
    # a row's result depends on that row alone: split in shares or not, the same bits
    x = _rows_of_every_kind(rng, PARALLEL_MIN // n_classes + 37, n_classes, np.float32, 3.0)
    ops = NumbaOps()
    with np.errstate(all="ignore"):
        whole = ops.logsumexp(x, axis=-1)
        row_by_row = np.concatenate([ops.logsumexp(x[n : n + 1], axis=-1) for n in range(0, 50)])
    np.testing.assert_array_equal(whole[:50], row_by_row)

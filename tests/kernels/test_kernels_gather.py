"""GatherKernels.gather_rows: the rows of x at idx, written into out."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import get_ops


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
@pytest.mark.parametrize("shape", [(10,), (10, 3), (10, 2, 2)])
def test_gather_rows_is_fancy_indexing_into_out(shape, dtype, rng):
    x = (rng.random(shape) * 100).astype(dtype)
    idx = rng.permutation(10)[:4]
    out = np.empty((4, *shape[1:]), dtype=dtype)
    result = get_ops().gather_rows(x, idx, out)
    assert result is out
    np.testing.assert_array_equal(out, x[idx])


def test_gather_rows_fills_the_front_of_a_larger_buffer(rng):
    x = rng.random((6, 3))
    buf = np.full((4, 3), -1.0)
    get_ops().gather_rows(x, np.array([5, 1]), buf[:2])
    np.testing.assert_array_equal(buf[:2], x[[5, 1]])
    np.testing.assert_array_equal(buf[2:], -1.0)

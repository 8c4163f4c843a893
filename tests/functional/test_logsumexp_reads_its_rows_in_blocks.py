"""logsumexp returns one value a row, and its scratch (the exponentials) is a block of rows,
not a copy of the whole input: 80 MB of scratch for 80 KB of output. The blocks give the
values of one pass, special values included, wherever a row falls."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from softgrad.functional import logsumexp


def _reference(x: np.ndarray) -> np.ndarray:
    """float64 log-sum-exp of each row, shifted by its max (finite rows only)."""
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_in_later_blocks_keep_their_values(rng, dtype):
    x = rng.normal(size=(3000, 700)).astype(dtype) * 10  # 2.1 million entries: 3 blocks
    special = {1: np.inf, 1600: -np.inf, 2999: np.nan}  # first, second and last block
    for row, value in special.items():
        x[row, 5] = value
    x[2500] = -np.inf  # an all -inf row: log of an empty sum
    got = logsumexp(x)
    assert got.shape == (3000,) and got.dtype == dtype
    assert got[1] == np.inf and np.isnan(got[2999]) and got[2500] == -np.inf
    normal = np.setdiff1d(np.arange(3000), [1, 2999, 2500])
    x[1600, 5] = -np.inf  # the reference leaves it out as exp(-inf) = 0 does
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got[normal], _reference(x[normal]), rtol=8 * eps)


def test_other_axes_and_masks_are_read_in_blocks_too(rng):
    x = rng.normal(size=(800, 3000))  # reduced along axis 0: 3,000 rows of 800
    where = rng.random(size=x.shape) < 0.5
    got = logsumexp(x, axis=0, where=where)
    masked = np.where(where, x, -np.inf).T
    np.testing.assert_allclose(got, _reference(masked), rtol=8 * np.finfo(np.float64).eps)


def test_its_scratch_is_a_block_not_the_input(rng):
    x = rng.normal(size=(20_000, 1_000)).astype(np.float32)  # 80 MB
    logsumexp(x[:10])  # the kernels' first use allocates too
    tracemalloc.start()
    try:
        logsumexp(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 8, f"peak {peak / 2**20:.1f} MiB for {x.nbytes / 2**20:.0f} MiB"

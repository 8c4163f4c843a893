"""logsumexp and cross_entropy return one value a row (or their sum), and their scratch (the
exponentials) is a block of rows, not a copy of the whole input: 80 MB of scratch for 80 KB
of output. The blocks give the values of one pass, special values included, wherever a row
falls."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from softgrad.functional import cross_entropy, logsumexp


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


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": np.linspace(0.5, 2.0, 700)},
        {"ignore_index": 3},
        {"label_smoothing": 0.1},
        {"probabilities": True},
    ],
    ids=["indices", "class weights", "ignore_index", "label smoothing", "probabilities"],
)
def test_cross_entropy_in_blocks_is_its_one_pass_rows_joined(rng, options):
    x = rng.normal(size=(3000, 700)).astype(np.float32) * 5  # 3 blocks
    target = rng.integers(0, 700, size=3000)
    target[::7] = 3
    if options.pop("probabilities", False):
        target = rng.random(size=x.shape).astype(np.float32)
        target /= target.sum(axis=1, keepdims=True)
    x[1700, 9] = np.inf  # a row of the second block: its loss is inf (or its limit)
    got = cross_entropy(x, target, reduction="none", **options)
    # one pass each: 500 rows are one block
    parts = [
        cross_entropy(x[i : i + 500], target[i : i + 500], reduction="none", **options)
        for i in range(0, 3000, 500)
    ]
    np.testing.assert_allclose(got, np.concatenate(parts), rtol=4 * np.finfo(np.float32).eps)
    x[1700, 9] = 0.0  # and their sum, of finite rows, is theirs
    total = cross_entropy(x, target, reduction="sum", **options)
    rows = cross_entropy(x, target, reduction="none", **options)
    assert float(total) == pytest.approx(float(np.sum(rows, dtype=np.float64)), rel=1e-6)


@pytest.mark.parametrize("reduce", [logsumexp, lambda x: cross_entropy(x, np.zeros(len(x), int))])
def test_the_scratch_is_a_block_not_the_input(rng, reduce):
    x = rng.normal(size=(20_000, 1_000)).astype(np.float32)  # 80 MB
    reduce(x[:10])  # the kernels' first use allocates too
    tracemalloc.start()
    try:
        reduce(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 4, f"peak {peak / 2**20:.1f} MiB for {x.nbytes / 2**20:.0f} MiB"


def test_row_dots_of_long_rows_multiply_a_block_at_a_time(rng):
    from softgrad.functional import log_softmax, log_softmax_jvp
    from softgrad.kernels.rows import row_dots

    a = rng.normal(size=(3000, 700)).astype(np.float32)  # rows past PAIRWISE_MIN, 3 blocks
    b = rng.normal(size=a.shape).astype(np.float32)
    # each row's pairwise sum of the same products, in the same order, block or not
    np.testing.assert_array_equal(row_dots(a, b), np.add.reduce(a * b, axis=1))
    logp = log_softmax(rng.normal(size=(10_000, 1_000)).astype(np.float32))  # 40 MB
    v = rng.normal(size=logp.shape).astype(np.float32)
    log_softmax_jvp(logp[:10], v[:10])
    tracemalloc.start()
    try:
        out = log_softmax_jvp(logp, v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the output and a block: the products of the whole input doubled it
    assert peak < 1.3 * out.nbytes, f"peak {peak / out.nbytes:.2f} times the output"
    expected = v - np.sum(np.exp(logp.astype(np.float64)) * v, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

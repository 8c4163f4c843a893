"""The fused dense kernel of benchmarks/fused_dense.py computes ``f(x @ W + b)``: within float32's
bound of the float64 result, each element the same sum in the same order whatever tile, panel,
batch or layout computes it, writing W's columns and nothing past them, and counting the rows
whose product held a NaN or an infinity."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

fused_dense = importlib.import_module("fused_dense")

U32 = 2.0**-24  # float32's unit roundoff
LAYOUTS = [fused_dense.AVX512, fused_dense.AVX2]


def _case(n, k, h, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)).astype(np.float32)
    w = rng.standard_normal((k, h)).astype(np.float32)
    b = rng.standard_normal(h).astype(np.float32)
    return x, w, b


def _assert_within_bound(out, x, w, b, relu):
    # |fl(x @ w + b) - (x @ w + b)| <= gamma_k (|x| @ |w|) + u |x @ w + b|, with
    # gamma_k = k u / (1 - k u): the bound of any order of k products summed in float32, then
    # the bias; ReLU only shrinks it
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    exact = x64 @ w64 + (b if b.size else 0.0)
    k = x.shape[1]
    gamma = k * U32 / (1 - k * U32)
    bound = gamma * (np.abs(x64) @ np.abs(w64)) + U32 * np.abs(exact)
    if relu:
        exact = np.maximum(exact, 0.0)
    error = np.abs(out - exact)
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.size else None
    assert (error <= bound).all(), f"at {worst}: {out[worst]} against {exact[worst]}"


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda c: c.name)
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "identity"])
@pytest.mark.parametrize(
    ("n", "k", "h"),
    [
        (1, 1, 1),
        (2, 5, 3),
        (7, 33, 17),
        (8, 16, 15),
        (6, 16, 16),
        (9, 40, 112),
        (11, 40, 113),
        (130, 100, 10),
        (50, 784, 256),
        (0, 4, 4),
    ],
)
def test_it_computes_the_layer_within_float32s_bound(layout, relu, n, k, h):
    x, w, b = _case(n, k, h)
    for bias in (b, np.empty(0, np.float32)):
        out = np.full((n, h), np.nan, np.float32)
        assert fused_dense.dense(x, w, bias, out, relu, layout) == 0
        _assert_within_bound(out, x, w, bias, relu)


@pytest.mark.parametrize("relu", [True, False], ids=["relu", "identity"])
def test_every_element_is_the_same_sum_in_any_tile_batch_or_layout(relu):
    # 3-row and 6-row blocks, one-row tiles, 7-, 4-, 2- and 1-vector panels: the same bits
    x, w, b = _case(37, 50, 300, seed=1)
    whole = np.empty((37, 300), np.float32)
    fused_dense.dense(x, w, b, whole, relu, fused_dense.AVX512)
    other = np.empty_like(whole)
    fused_dense.dense(x, w, b, other, relu, fused_dense.AVX2)
    assert_array_equal(other, whole)
    for start, stop in [(0, 1), (1, 5), (5, 19), (19, 37)]:
        part = np.empty((stop - start, 300), np.float32)
        fused_dense.dense(x[start:stop], w, b, part, relu, fused_dense.AVX512)
        assert_array_equal(part, whole[start:stop])


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda c: c.name)
def test_it_reads_and_writes_rows_in_place_and_nothing_past_ws_columns(layout):
    # x a column slice of a wider array, W rows of a wider matrix, out a slice of a wider buffer
    x, w, b = _case(10, 24, 21, seed=2)
    wide_x = np.zeros((10, 40), np.float32)
    wide_x[:, 3:27] = x
    wide_w = np.zeros((24, 64), np.float32)
    wide_w[:, 5:26] = w
    wide_out = np.full((10, 64), 7.0, np.float32)
    fused_dense.dense(wide_x[:, 3:27], wide_w[:, 5:26], b, wide_out[:, 2:23], True, layout)
    alone = np.empty((10, 21), np.float32)
    fused_dense.dense(x, w, b, alone, True, layout)
    assert_array_equal(wide_out[:, 2:23], alone)
    assert (wide_out[:, :2] == 7.0).all() and (wide_out[:, 23:] == 7.0).all()


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda c: c.name)
def test_it_counts_the_rows_whose_product_is_not_finite(layout):
    x, w, b = _case(20, 30, 40, seed=3)
    x[4, 3], x[11, 0], x[19, 29] = np.inf, np.nan, -np.inf
    x[3, 5] = np.nan  # rows 3 and 4 share a tile: each counted
    x[12, 1] = x[12, 2] = np.inf  # two in one row: counted once
    relu_out, identity_out = (np.empty((20, 40), np.float32) for _ in range(2))
    assert fused_dense.dense(x, w, b, relu_out, True, layout) == 5
    assert fused_dense.dense(x, w, b, identity_out, False, layout) == 5
    assert np.isnan(relu_out[11]).all()  # NaN stays NaN through the ReLU
    finite = np.ones(20, bool)
    finite[[3, 4, 11, 12, 19]] = False
    assert np.isfinite(identity_out[finite]).all()
    # a product that overflows from finite rows is not finite either
    big = np.full((2, 3), 3e38, np.float32)
    assert (
        fused_dense.dense(
            big, np.ones((3, 5), np.float32), b[:5], np.empty((2, 5), np.float32), False, layout
        )
        == 2
    )


def test_the_relu_gives_zero_for_minus_zero_and_the_identity_keeps_it():
    x = np.full((4, 3), 1e-30, np.float32)
    w = np.full((3, 5), -1e-30, np.float32)  # each product underflows to -0.0
    no_bias = np.empty(0, np.float32)
    relu, identity = (np.empty((4, 5), np.float32) for _ in range(2))
    fused_dense.dense(x, w, no_bias, relu, True)
    fused_dense.dense(x, w, no_bias, identity, False)
    assert not np.signbit(relu).any()
    assert (identity == 0).all() and np.signbit(identity).all()


def test_the_table_gives_each_setting_and_the_ratio():
    medians = {
        (way, setting): seconds
        for setting, pair in zip(
            fused_dense.SETTINGS, [(0.010, 0.008), (0.010, 0.018), (0.02, 0.015)], strict=True
        )
        for way, seconds in zip(fused_dense.WAYS, pair, strict=True)
    }
    lines = fused_dense.table(medians, 10_000)
    assert lines[0].startswith("| 10,000 rows, batches of 1,024")
    assert lines[2] == "| BLAS idle | 10.00 | 8.00 | 0.80x |"
    assert lines[3] == "| right after a BLAS product | 10.00 | 18.00 | 1.80x |"
    assert lines[4] == "| one thread | 20.00 | 15.00 | 0.75x |"

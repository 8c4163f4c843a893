"""A mask's rows: the entries ``where`` leaves out become -inf, and the rows that keep none are
named, the same on both lanes.

The NumPy lane builds them with ``np.where`` and a row-wise ``any``; the Numba lane in one
kernel pass (numba_softmax.select_rows), as ``np.where`` branched on every entry (a random
half of a 4096 x 100 mask: 6x an all-True one's time). These tests hold the two to the same
result, bit for bit (a selection computes nothing), for every mask shape a call broadcasts,
every dtype and layout the kernel takes or leaves to the NumPy lane, and through the masked
softmax, log_softmax and logsumexp.
"""

from __future__ import annotations

import numpy as np
import pytest

import softgrad.functional as F
from softgrad.kernels.numpy_ops import NumpyOps

pytest.importorskip("numba")

from softgrad.kernels.numba_ops import NumbaOps

SHAPES = [(1, 1), (7, 10), (4096, 100), (3, 5, 12)]
MASK_SHAPES = {  # how a mask of each kind is drawn for x's shape (then broadcast)
    "full": lambda shape: shape,
    "one row": lambda shape: shape[-1:],
    "one column": lambda shape: (*shape[:-1], 1),
}


def _mask(rng, shape, kind, density):
    keep = rng.random(MASK_SHAPES[kind](shape)) < density
    return np.broadcast_to(keep, shape)  # as check_where hands it over: a read-only view


def _logits(rng, shape, dtype):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    flat = x.reshape(-1)
    flat[:: max(1, flat.size // 5)] = np.nan  # left out or kept: NaN only where kept counts
    flat[1 :: max(2, flat.size // 3)] = np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("kind", list(MASK_SHAPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_the_rows_and_the_empty_rows_are_the_numpy_lanes(shape, kind, density, dtype, rng):
    x = _logits(rng, shape, dtype)
    where = _mask(rng, shape, kind, density)
    rows, empty = NumbaOps().masked_rows(x, -1, where)
    expected_rows, expected_empty = NumpyOps().masked_rows(x, -1, where)
    np.testing.assert_array_equal(rows, expected_rows)
    assert rows.dtype == x.dtype and rows.shape == (x.size // shape[-1], shape[-1])
    assert not np.shares_memory(rows, x)
    if expected_empty is None:
        assert empty is None
    else:
        np.testing.assert_array_equal(empty, expected_empty)


@pytest.mark.parametrize("shape", [(3, 0), (0, 5), (2, 3, 0)])
def test_empty_arrays_are_the_numpy_lanes(shape, rng):
    x = np.zeros(shape, np.float32)
    where = _mask(rng, shape, "full", 0.5)
    rows, empty = NumbaOps().masked_rows(x, -1, where)
    expected_rows, expected_empty = NumpyOps().masked_rows(x, -1, where)
    assert rows.shape == expected_rows.shape and rows.dtype == expected_rows.dtype
    assert (empty is None) == (expected_empty is None)


@pytest.mark.parametrize(
    "layout",
    ["other axis", "Fortran order", "a slice", "float16", "int64", "no mask"],
)
def test_what_the_kernel_does_not_take_is_the_numpy_lanes(layout, rng):
    x = _logits(rng, (6, 9), np.float32)
    axis = -1
    if layout == "other axis":
        axis = 0
    elif layout == "Fortran order":
        x = np.asfortranarray(x)
    elif layout == "a slice":
        x = _logits(rng, (6, 18), np.float32)[:, ::2]
    elif layout in ("float16", "int64"):
        x = np.nan_to_num(x, posinf=100.0).astype(layout)
    where = None if layout == "no mask" else _mask(rng, x.shape, "full", 0.5)
    rows, empty = NumbaOps().masked_rows(x, axis, where)
    expected_rows, expected_empty = NumpyOps().masked_rows(x, axis, where)
    np.testing.assert_array_equal(rows, expected_rows)
    assert (empty is None) == (expected_empty is None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(MASK_SHAPES))
def test_masked_softmax_log_softmax_and_logsumexp_agree_on_both_lanes(
    kind, dtype, rng, agree, numpy_lane, monkeypatch
):
    x = _logits(rng, (300, 40), dtype)
    where = _mask(rng, x.shape, kind, 0.3)
    calls = {
        "softmax": lambda: F.softmax(x, where=where),
        "log_softmax": lambda: F.log_softmax(x, where=where),
        "logsumexp": lambda: F.logsumexp(x, axis=-1, where=where),
    }
    with np.errstate(invalid="ignore"):
        expected = {name: call() for name, call in calls.items()}  # the NumPy lane
    from softgrad.kernels import registry

    monkeypatch.setattr(registry, "_active", {"ops": NumbaOps()})
    with np.errstate(invalid="ignore"):
        for name, call in calls.items():
            agree(call(), expected[name], 4, name, magnitude=10.0)

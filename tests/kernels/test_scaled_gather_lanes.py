"""gather_rows_scaled on both lanes, on the same inputs: each equals Scaler.transform then the
gather (bit for bit in float32, the same formula) and the formula in out's dtype (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.preprocessing import Scaler


def _lanes():
    lanes = [pytest.param(NumpyOps(), id="numpy")]
    try:
        from softgrad.kernels.numba_ops import NumbaOps
    except ImportError:  # the NumPy lane still runs; the Numba one is reported skipped
        lanes.append(pytest.param(None, id="numba", marks=pytest.mark.skip("numba missing")))
    else:
        lanes.append(pytest.param(NumbaOps(), id="numba"))
    return lanes


LANES = _lanes()
# empty batch; repeats; the last row; a training batch of Fashion-MNIST's width
INDICES = {
    "empty": [],
    "repeated": [3, 3, 0, 3],
    "last row": [299],
    "both ends": [0, 299, 150, 299, 0],
    "batch": list(range(171, 299)),
}
SCALERS = {
    "range 255": Scaler.for_range(255),
    "standard": Scaler(np.linspace(10, 140, 784), np.linspace(0.004, 0.2, 784)),
    "offset only": Scaler(np.linspace(0, 255, 784), 1.0),
}


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(7).integers(0, 256, size=(300, 784), dtype=np.uint8)


@pytest.mark.parametrize("ops", LANES)
@pytest.mark.parametrize("which", list(SCALERS))
@pytest.mark.parametrize("rows", list(INDICES))
def test_float32_equals_transform_then_gather_bit_for_bit(ops, which, rows, pixels):
    scaler = SCALERS[which]
    idx = np.array(INDICES[rows], dtype=np.intp)
    out = np.full((len(idx), 784), np.nan, dtype=np.float32)
    assert ops.gather_rows_scaled(pixels, idx, scaler.offset, scaler.scale, out) is out
    expected = scaler.transform(pixels)[idx]
    np.testing.assert_array_equal(out.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("ops", LANES)
@pytest.mark.parametrize("which", list(SCALERS))
@pytest.mark.parametrize("rows", list(INDICES))
def test_float64_is_the_formula_in_float64(ops, which, rows, pixels, agree):
    scaler = SCALERS[which]
    idx = np.array(INDICES[rows], dtype=np.intp)
    out = np.empty((len(idx), 784), dtype=np.float64)
    ops.gather_rows_scaled(pixels, idx, scaler.offset, scaler.scale, out)
    offset, scale = scaler.offset.astype(np.float64), scaler.scale.astype(np.float64)
    # the same two roundings in float64: bit for bit
    np.testing.assert_array_equal(out, (pixels[idx].astype(np.float64) - offset) * scale)
    # and Scaler.transform's float32 result differs by float32's roundings only: the
    # subtraction and the product, each one float32 rounding of a value of magnitude <= 255 s
    transformed = scaler.transform(pixels)[idx].astype(np.float64)
    if out.size:
        magnitude = float(np.max(np.abs(out)))
        tol = 2 * np.finfo(np.float32).eps * max(1.0, magnitude)
        assert np.max(np.abs(out - transformed)) <= tol


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", list(INDICES))
def test_the_two_lanes_give_the_same_bits(out_dtype, rows, pixels):
    numba_ops = LANES[1].values[0]
    if numba_ops is None:
        pytest.skip("numba missing")
    scaler = SCALERS["standard"]
    idx = np.array(INDICES[rows], dtype=np.intp)
    a, b = (np.empty((len(idx), 784), dtype=out_dtype) for _ in range(2))
    NumpyOps().gather_rows_scaled(pixels, idx, scaler.offset, scaler.scale, a)
    numba_ops.gather_rows_scaled(pixels, idx, scaler.offset, scaler.scale, b)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ops", LANES)
def test_an_out_that_overlaps_the_stored_rows_is_handled(ops):
    # the stored uint8 rows live in the float buffer's own bytes: the gather must read every
    # row before it writes (the NumPy lane copies the rows first; the Numba lane hands such a
    # call to it), so the result is the one from a separate buffer
    buffer = np.zeros((4, 8), dtype=np.float32)
    stored = buffer.view(np.uint8)[:, :8]  # (4, 8) uint8 rows inside the first floats
    stored[...] = np.arange(32, dtype=np.uint8).reshape(4, 8)
    expected = (stored[[3, 0, 3]].astype(np.float32) - np.float32(1)) * np.float32(0.5)
    out = buffer[:3]
    assert np.may_share_memory(out, stored)
    ops.gather_rows_scaled(stored, np.array([3, 0, 3]), 1.0, 0.5, out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("ops", LANES)
def test_out_of_range_indices_are_clipped_like_np_take(ops, pixels):
    idx = np.array([-5, 300, 10_000], dtype=np.intp)
    out = np.empty((3, 784), dtype=np.float32)
    ops.gather_rows_scaled(pixels, idx, 0.0, 1.0, out)
    np.testing.assert_array_equal(out, pixels[[0, 299, 299]].astype(np.float32))


@pytest.mark.parametrize("ops", LANES)
def test_non_contiguous_stored_rows_give_the_same_batch(ops, pixels):
    strided = pixels[::2]  # every other row: not C-contiguous over the rows
    idx = np.array([0, 149, 7])
    out = np.empty((3, 784), dtype=np.float32)
    ops.gather_rows_scaled(strided, idx, 3.0, 0.25, out)
    np.testing.assert_array_equal(out, Scaler(3.0, 0.25).transform(pixels[[0, 298, 14]]))


@pytest.mark.parametrize("ops", LANES)
@pytest.mark.parametrize("which", list(SCALERS))
def test_a_bound_scaled_gather_is_the_gather(ops, which, pixels):
    scaler = SCALERS[which]
    out = np.empty((4, 784), np.float32)
    run = ops.bind_gather_rows_scaled(pixels, scaler.offset, scaler.scale, out)
    full = scaler.transform(pixels)
    for idx in (
        np.array([3, 3, 0, 299]),
        np.array([5, 1, 2, 7], dtype=np.int32),  # another index dtype
        np.arange(8)[::2],  # not contiguous: the NumPy lane's gather
    ):
        assert run(idx) is out
        np.testing.assert_array_equal(out.view(np.uint32), full[idx].view(np.uint32))

"""The Numba lane's batch gather (NumPy's np.take(mode="clip"), inherited) and its scaled
gather against np.take followed by the Scaler's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels.numba_ops import NumbaOps
from softgrad.preprocessing import Scaler

OPS = NumbaOps()
# the NumPy side of every comparison runs on the NumPy lane, whatever the default
pytestmark = pytest.mark.usefixtures("numpy_lane")
# (rows gathered, features): serial and threaded loops, the training step's 128 x 784
SHAPES = [(0, 784), (1, 3), (7, 5), (128, 784)]


def _indices(rng, n_gathered, n_rows):
    idx = rng.integers(0, n_rows, size=n_gathered)
    if n_gathered >= 3:
        idx[:3] = [0, n_rows - 1, 0]  # both ends, and a repeat
    return idx


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize(("n_gathered", "n_features"), SHAPES)
def test_gather_rows_is_np_take(n_gathered, n_features, dtype, rng):
    x = (rng.standard_normal((300, n_features)) * 100).astype(dtype)
    idx = _indices(rng, n_gathered, 300)
    out = np.empty((n_gathered, n_features), dtype=dtype)
    assert OPS.gather_rows(x, idx, out) is out
    np.testing.assert_array_equal(out, np.take(x, idx, axis=0, mode="clip"))


def test_gather_rows_copies_inf_and_nan_bit_for_bit(rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    x[3] = [np.inf, -np.inf, np.nan, -0.0]
    out = np.empty((2, 4), dtype=np.float32)
    OPS.gather_rows(x, np.array([3, 3]), out)
    np.testing.assert_array_equal(out.view(np.uint32), x[[3, 3]].view(np.uint32))


def test_out_of_range_indices_are_clipped_as_np_take_clips_them(rng):
    x = rng.standard_normal((5, 3))
    idx = np.array([-7, -1, 4, 5, 1_000_000])
    out = np.empty((5, 3))
    OPS.gather_rows(x, idx, out)
    np.testing.assert_array_equal(out, np.take(x, idx, axis=0, mode="clip"))
    OPS.gather_rows_scaled(x, idx, 0.5, 2.0, out)
    np.testing.assert_array_equal(out, (np.take(x, idx, axis=0, mode="clip") - 0.5) * 2.0)


@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_gathered", "n_features"), SHAPES)
def test_scaled_gather_from_uint8_is_take_then_scale(n_gathered, n_features, out_dtype, rng):
    x = rng.integers(0, 256, size=(300, n_features), dtype=np.uint8)
    idx = _indices(rng, n_gathered, 300)
    offset = rng.uniform(0, 128, size=n_features)
    scale = rng.uniform(0.001, 0.1, size=n_features)
    out = np.empty((n_gathered, n_features), dtype=out_dtype)
    OPS.gather_rows_scaled(x, idx, offset, scale, out)
    rows = np.take(x, idx, axis=0).astype(out_dtype)
    # the same two roundings in out's dtype: bit-identical
    expected = (rows - offset.astype(out_dtype)) * scale.astype(out_dtype)
    np.testing.assert_array_equal(out, expected)


def test_a_scaler_folds_into_the_gather(rng):
    # Fashion-MNIST's scaling, x / 255, as the Scaler computes it on the gathered float32 batch
    x = rng.integers(0, 256, size=(1000, 784), dtype=np.uint8)
    idx = rng.permutation(1000)[:128]
    scaler = Scaler.for_range(255)
    out = np.empty((128, 784), dtype=np.float32)
    OPS.gather_rows_scaled(x, idx, scaler.offset, scaler.scale, out)
    np.testing.assert_array_equal(out, scaler.transform(x[idx]))


def test_scaled_gather_keeps_inf_and_nan_of_float_rows():
    x = np.array([[np.inf, -np.inf, np.nan, 1.0]], dtype=np.float32)
    out = np.empty((1, 4), dtype=np.float32)
    OPS.gather_rows_scaled(x, np.array([0]), 1.0, 2.0, out)
    np.testing.assert_array_equal(out, [[np.inf, -np.inf, np.nan, 0.0]])


def test_the_same_inputs_give_bit_identical_batches(rng):
    x = rng.integers(0, 256, size=(2000, 784), dtype=np.uint8)
    idx = rng.integers(0, 2000, size=128)
    first, again = np.empty((128, 784), np.float32), np.empty((128, 784), np.float32)
    OPS.gather_rows_scaled(x, idx, 0.0, 1 / 255, first)
    OPS.gather_rows_scaled(x, idx, 0.0, 1 / 255, again)
    np.testing.assert_array_equal(first, again)


def test_one_offset_with_a_scale_per_feature(rng):
    x = rng.integers(0, 256, size=(50, 6), dtype=np.uint8)
    idx = rng.integers(0, 50, size=9)
    scale = rng.uniform(0.01, 1.0, size=6).astype(np.float32)
    out = np.empty((9, 6), dtype=np.float32)
    OPS.gather_rows_scaled(x, idx, 3.0, scale, out)
    np.testing.assert_array_equal(out, (x[idx].astype(np.float32) - np.float32(3.0)) * scale)

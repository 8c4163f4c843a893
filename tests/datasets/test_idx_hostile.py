"""IDX files and folders a hostile user could hand over: float images holding NaN, inf or
values float32 cannot hold, samples of no values, more dimensions than NumPy holds."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from softgrad.datasets import load_file, load_idx, load_idx_folder
from softgrad.errors import DataFormatError


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        (np.nan, np.float32, "features must be finite; got nan"),
        (-np.inf, np.float64, "features must be finite; got -inf"),
        (1e300, np.float64, r"features must be within float32's range .* got 1e\+300"),
    ],
)
def test_float_idx_images_pass_the_feature_check(make_idx_folder, value, dtype, message):
    # a .npz or .csv holding them was refused; an IDX folder loaded them and training ran on NaN
    images = np.zeros((30, 4, 3), dtype=dtype)
    images[7, 2, 1] = value
    folder, _ = make_idx_folder(X_train=images, X_test=np.zeros((10, 4, 3), dtype=dtype))
    where = f"load_idx_folder: '{folder / 'train-images-idx3-ubyte'}"
    for load in (load_idx_folder, load_file):
        with pytest.raises(DataFormatError, match=rf"{where}.*: {message} at sample 7, value 7 "):
            load(folder)


def test_finite_float_idx_images_load(make_idx_folder):
    images = np.linspace(-1, 1, 30 * 12, dtype=np.float32).reshape(30, 4, 3)
    folder, _ = make_idx_folder(X_train=images, X_test=images[:10])
    ds = load_idx_folder(folder)
    np.testing.assert_array_equal(ds.X_train, images.reshape(30, 12))
    assert ds.scale is None


def test_samples_of_no_values_are_refused(make_idx_folder):
    # shape (30, 0, 4) built a Dataset of 0 features, which no model can train on
    folder, _ = make_idx_folder(
        X_train=np.zeros((30, 0, 4), np.uint8), X_test=np.zeros((10, 0, 4), np.uint8)
    )
    with pytest.raises(
        DataFormatError,
        match=r"must hold samples of at least one value; got "
        r"shape \(30, 0, 4\)",
    ):
        load_idx_folder(folder)


def test_more_dimensions_than_numpy_holds_is_a_data_format_error(tmp_path):
    path = tmp_path / "deep-idx255-ubyte"
    path.write_bytes(struct.pack(">HBB255I", 0, 8, 255, *([1] * 255)) + b"\x05")
    with pytest.raises(
        DataFormatError,
        match=rf"load_idx: '{path}': number of dimensions must "
        r"be one NumPy can hold; got 255",
    ):
        load_idx(path)

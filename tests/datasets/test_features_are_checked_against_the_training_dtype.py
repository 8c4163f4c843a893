"""load_file refuses a feature beyond the range of the dtype training computes in
(``train_dtype``), not always float32's: a float64 run (``softgrad train --dtype float64``) and
the evaluation of a float64 model were refused values of 1e39 that float64 holds, told that
"softgrad trains in float32". NaN and inf are refused whatever the dtype."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.datasets import load_data
from softgrad.datasets.files import load_file
from softgrad.errors import DataFormatError


def _npz(tmp_path, value):
    X = np.ones((10, 3))
    X[4, 2] = value
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(10) % 2)
    return tmp_path / "d.npz"


def _csv(tmp_path, value):
    rows = "".join(f"{k},{value if k == 4 else 2},{k % 2}\n" for k in range(10))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows)
    return tmp_path / "d.csv"


@pytest.mark.parametrize("write", [_npz, _csv], ids=["npz", "csv"])
def test_a_value_beyond_float32_is_read_for_float64_training(tmp_path, write):
    data = load_file(write(tmp_path, "1e39"), train_dtype=np.float64, hold_out=False)
    assert data.X_train.dtype == np.float64  # a CSV too: float32 cells would round it
    assert 1e39 in data.X_train


@pytest.mark.parametrize("write", [_npz, _csv], ids=["npz", "csv"])
def test_a_value_beyond_float32_is_refused_for_float32_training(tmp_path, write):
    match = (
        r"features must be within float32's range \(\|x\| <= 3\.403e\+38\); got 1e\+39 at .*: "
        r"float32 training cannot hold it \(rescale it, or train in float64\)$"
    )
    with pytest.raises(DataFormatError, match=match):
        load_file(write(tmp_path, "1e39"))
    with pytest.raises(DataFormatError, match=match):
        load_data(str(write(tmp_path, "1e39")), train_dtype="float32")


@pytest.mark.parametrize("write", [_npz, _csv], ids=["npz", "csv"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_nan_and_inf_are_refused_for_float64_training(tmp_path, write, value):
    with pytest.raises(DataFormatError, match="features must be finite"):
        load_file(write(tmp_path, value), train_dtype="float64")


def test_a_float64_training_dtype_reads_a_csv_without_float32_rounding(tmp_path):
    path = _csv(tmp_path, "1.0000000001")
    assert 1.0000000001 in load_file(path, train_dtype="float64", hold_out=False).X_train
    # an explicit csv_dtype is kept (evaluate reads a model's file as its training read it)
    kept = load_file(path, train_dtype="float64", csv_dtype="float32", hold_out=False)
    assert kept.X_train.dtype == np.float32


@pytest.mark.parametrize("dtype", ["float16", "int64", "nope"])
def test_another_training_dtype_is_refused(tmp_path, dtype):
    with pytest.raises(
        ValueError, match=rf"^load_file: train_dtype must be float32 or float64; got '{dtype}'$"
    ):
        load_file(_npz(tmp_path, "1"), train_dtype=dtype)

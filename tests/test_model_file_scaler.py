"""A model file's scaler is used as it is stored, or refused. A model scales in float32: a scaler
of another dtype is read only when float32 holds its every value exactly (a hand-made float64 1/3
was rounded silently on load, so the model predicted from other values than its file holds); a
file marked unscaled must store the identity (another scaler was dropped silently)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import softgrad
from softgrad.errors import ModelFileError
from softgrad.nn import Linear, Sequential
from softgrad.preprocessing import Scaler
from softgrad.serialization import read_npz, write_npz


@pytest.fixture
def saved(tmp_path):
    """A float32 model file of 3 features with a per-feature scaler; returns its path."""
    path = tmp_path / "m.npz"
    softgrad.save(Sequential(Linear(3, 2, rng=0)), path, scaler=Scaler([1.0, 2.0, 3.0], 0.5))
    return path


def _with(path, **arrays):
    stored, meta = read_npz(path)
    stored.update({f"scaler.{name}": array for name, array in arrays.items()})
    write_npz(path, stored, meta)
    return path


@pytest.mark.parametrize(
    ("field", "array"),
    [
        ("offset", np.array([1.0, 2.5, -3.25])),  # float64, every value a float32
        ("scale", np.float64(1 / 256)),
        ("scale", np.array([2, 4, 255], np.int64)),
        ("offset", np.array([0.5, 1.0, 1.5], np.float16)),
    ],
    ids=["float64-offset", "float64-scale", "int64-scale", "float16-offset"],
)
def test_a_scaler_that_float32_holds_exactly_is_read(saved, field, array):
    model = softgrad.load(_with(saved, **{field: array}))
    got = getattr(model.scaler, field)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.astype(np.float64), np.asarray(array, np.float64))


@pytest.mark.parametrize(
    ("field", "array", "words"),
    [
        (
            "scale",
            np.array([0.5, 1 / 3, 0.25]),
            "'scaler.scale' must be float32, or float64 values that float32 holds exactly (the "
            "model scales in float32); got float64 0.3333333333333333 for feature 1, which "
            "float32 makes 0.3333333432674408 (store it as float32)",
        ),
        (
            "offset",
            np.float64(0.1),
            "'scaler.offset' must be float32, or float64 values that float32 holds exactly "
            "(the model scales in float32); got float64 0.1, which float32 makes "
            "0.10000000149011612 (store it as float32)",
        ),
        ("offset", np.array([1, 2, 2**24 + 1], np.int64), "got int64 16777217 for feature 2"),
        ("scale", np.array([1e300, 1.0, 1.0]), "got float64 1e+300 for feature 0, which float32"),
    ],
    ids=["float64-third", "float64-tenth", "int64-beyond-2**24", "beyond-float32"],
)
def test_a_scaler_that_float32_would_round_is_refused_by_field_and_dtypes(
    saved, field, array, words
):
    path = _with(saved, **{field: array})
    with pytest.raises(ModelFileError, match=re.escape(words)) as info:
        softgrad.load(path)
    assert str(info.value).startswith(f"model file '{path}': 'scaler.{field}' must be float32")


def test_the_cli_refuses_it_in_one_line(saved, tmp_path, capsys):
    from softgrad.cli import main

    path = _with(saved, scale=np.array([0.5, 1 / 3, 0.25]))
    np.save(tmp_path / "x.npy", np.ones((1, 3)))
    assert main(["predict", "--model", str(path), str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'scaler.scale' must be float32" in err, err


def test_a_scaler_in_a_file_marked_unscaled_is_refused_not_dropped(tmp_path):
    # "scaled": false with a real scaler stored: load dropped the scaler without a word
    path = tmp_path / "u.npz"
    softgrad.save(Sequential(Linear(3, 2, rng=0)), path)
    stored, meta = read_npz(path)
    assert meta["scaled"] is False
    assert softgrad.load(path).scaler is None  # the identity it stores is fine
    stored["scaler.scale"] = np.float32(1 / 255)
    write_npz(path, stored, meta)
    words = (
        f"model file '{path}': 'scaler.scale' must be 1 in a file marked unscaled ('scaled': "
        f"false), which load ignores; got {float(np.float32(1 / 255))!r} (mark it 'scaled': "
        "true to use it)"
    )
    with pytest.raises(ModelFileError, match=f"^{re.escape(words)}$"):
        softgrad.load(path)

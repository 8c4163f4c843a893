"""Every model file that load refuses is refused by predict, evaluate and export in one line
that names the file: a 5000-digit integer in the header was reported in Python's own
int-to-str message ("Exceeds the limit (4300 digits) ..."), which named no file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.preprocessing import Scaler


def _saved(tmp_path):
    path = tmp_path / "good.npz"
    scaler = Scaler(np.zeros(4, np.float32), np.ones(4, np.float32))
    Model(build_mlp(4, [5], 3, rng=0), ["a", "b", "c"], scaler, metadata={"k": 1}).save(path)
    return path


def _weights_as(dtype):
    return lambda arrays: arrays.update(
        {name: a.astype(dtype) for name, a in arrays.items() if name[0].isdigit()}
    )


EDITS = {
    "5000-digit-metadata-int": (None, lambda text: text.replace('"k": 1', '"k": 1' + "0" * 5000)),
    "5000-digit-layer-size": (
        None,
        lambda text: text.replace('"in_features": 4', '"in_features": 4' + "0" * 5000),
    ),
    "float128-weights": (_weights_as(np.longdouble), None),
    "duplicate-classes": (lambda arrays: arrays.update(classes=np.array(["a", "a", "c"])), None),
    "classes-of-another-count": (lambda arrays: arrays.update(classes=np.array(["a", "b"])), None),
    "complex-scaler": (
        lambda arrays: arrays.update({"scaler.scale": np.ones(4, np.complex64)}),
        None,
    ),
}


@pytest.fixture(params=sorted(EDITS))
def damaged(request, tmp_path):
    edit_arrays, edit_text = EDITS[request.param]
    stored = dict(np.load(_saved(tmp_path)))
    text = stored.pop("__meta__").tobytes().decode()
    json.loads(text)  # the header as saved is plain JSON
    if edit_arrays is not None:
        edit_arrays(stored)
    if edit_text is not None:
        text = edit_text(text)
    stored["__meta__"] = np.frombuffer(text.encode(), np.uint8)
    path = tmp_path / "damaged.npz"
    np.savez(path, **stored)
    return path


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_each_command_names_the_model_file_in_its_one_line(usage_error, damaged, tmp_path, command):
    X = np.ones((2, 4), np.float32)
    np.save(tmp_path / "X.npy", X)
    np.savez(tmp_path / "data.npz", X=X, y=np.array([0, 1]))
    out = tmp_path / "m.onnx"
    argv = {
        "predict": ["predict", "--model", damaged, tmp_path / "X.npy"],
        "evaluate": ["evaluate", "--model", damaged, "--data", tmp_path / "data.npz"],
        "export": ["export", "--model", damaged, "--out", out],
    }[command]
    line = usage_error(*argv)
    assert f"model file '{damaged}': " in line
    assert not out.exists()

"""Issue 12, hostile model files: the parts of a model file must fit together on load (a
scaler sized for another input, a network without a Linear layer), refused with one line
naming the file, before predict, evaluate or export can use them."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import softgrad
from softgrad.errors import ModelFileError
from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.preprocessing import Scaler
from softgrad.serialization import read_npz, write_npz


@pytest.fixture
def model_file(tmp_path):
    scaler = Scaler(np.zeros(4, np.float32), np.ones(4, np.float32))
    path = tmp_path / "m.npz"
    Model(build_mlp(4, [5], 3, rng=0), np.array([0, 1, 2]), scaler).save(path)
    return path


def _rewrite(path, arrays=None, meta=None):
    a, m = read_npz(path)
    a, m = {**a, **(arrays or {})}, copy.deepcopy(m)
    if meta is not None:
        meta(m)
    write_npz(path, a, m, kind="model")


@pytest.mark.parametrize("name", ["scaler.offset", "scaler.scale"])
@pytest.mark.parametrize("shape", [(5,), (2, 2), (3,)])
def test_a_scaler_sized_for_another_input_is_refused_on_load(model_file, name, shape):
    _rewrite(model_file, {name: np.ones(shape, np.float32)})
    with pytest.raises(ModelFileError) as info:
        softgrad.load(model_file)
    message = str(info.value)
    assert str(model_file) in message and f"{name!r} must hold one value, or one per" in message
    assert f"(4, the first Linear layer's input); got shape {shape}" in message


def test_a_single_offset_and_scale_for_all_features_still_loads(model_file):
    _rewrite(model_file, {"scaler.offset": np.float32(1.0), "scaler.scale": np.float32(0.5)})
    assert softgrad.load(model_file).predict(np.ones((2, 4))).shape == (2,)


def test_a_network_without_a_linear_layer_is_refused_on_load(model_file):
    def only_activations(meta):
        meta["network"]["layers"] = [meta["network"]["layers"][1]] * 1000

    _rewrite(model_file, meta=only_activations)
    with pytest.raises(ModelFileError, match="architecture must hold at least one Linear layer"):
        softgrad.load(model_file)


def test_the_cli_refuses_it_in_one_line_before_export_writes(usage_error, model_file, tmp_path):
    _rewrite(model_file, {"scaler.scale": np.ones(7, np.float32)})
    out = tmp_path / "m.onnx"
    line = usage_error("export", "--model", model_file, "--out", out)
    assert "'scaler.scale' must hold one value" in line
    assert not out.exists()


def test_linear_layers_that_do_not_chain_are_refused_on_load(model_file, usage_error, tmp_path):
    # Linear(4, 5), ReLU, Linear(6, 3) with weights of those shapes: the file loaded, and
    # every prediction failed in NumPy's matmul error, naming no file
    def wider(meta):
        meta["network"]["layers"][2]["config"]["in_features"] = 6

    _rewrite(model_file, {"2.W": np.ones((6, 3), np.float32)}, meta=wider)
    words = (
        f"model file '{model_file}': layer 2 in_features must be 5, the out_features of layer 0 "
        "before it; got 6 (the layers do not chain: every prediction would fail)"
    )
    with pytest.raises(ModelFileError) as info:
        softgrad.load(model_file)
    assert str(info.value) == words
    np.save(tmp_path / "x.npy", np.ones((1, 4)))
    assert usage_error("predict", "--model", model_file, tmp_path / "x.npy").endswith(words)


def test_a_network_whose_linear_layers_do_not_chain_is_refused_by_model_and_save(tmp_path):
    from softgrad.nn import Linear, ReLU, Sequential

    net = Sequential(Linear(4, 5, rng=0), ReLU(), Sequential(Linear(5, 6, rng=0)), Linear(7, 3))
    words = "layer 3 in_features must be 6, the out_features of layer 2.0 before it; got 7"
    with pytest.raises(ValueError, match=f"^Model: network's {words}$"):
        Model(net)
    with pytest.raises(ValueError, match=words):
        softgrad.save(net, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()

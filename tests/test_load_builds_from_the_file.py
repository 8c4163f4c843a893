"""Loading builds the network holding the file's arrays: no random draw, one copy into the
parameter store, and a peak of the weights and their gradients (not a drawn network on top)."""

import json

import numpy as np
import pytest

import softgrad
from softgrad.errors import ModelFileError
from softgrad.model import Model
from softgrad.nn import Dropout, Linear, ReLU, Sequential, Tanh, build_mlp
from softgrad.preprocessing import Scaler


def _bits(array):
    """The array's bytes as unsigned integers: equal bits, -0.0 and +0.0 told apart."""
    return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}")


def _networks():
    yield build_mlp(6, [5, 4], 3, activation="tanh", dropout=0.25, rng=1)
    yield Sequential(
        Linear(6, 5, rng=2, dtype=np.float64),
        Sequential(Tanh(), Linear(5, 4, bias=False, rng=3, init="glorot", dtype=np.float64)),
        ReLU(),
        Linear(4, 3, rng=4, dtype=np.float64),
    )
    yield Sequential(Linear(6, 3, rng=5, dtype=np.float16), Dropout(0.5, rng=0))


@pytest.mark.parametrize("network", list(_networks()), ids=["mlp32", "nested64", "half"])
def test_load_draws_nothing_and_gives_back_the_files_bits(tmp_path, network, forbid_draws):
    params = network.named_params()
    params["0.W"][0, :2] = [-0.0, np.finfo(params["0.W"].dtype).smallest_subnormal]
    softgrad.save(network, tmp_path / "m.npz", classes=np.arange(3))
    stored = dict(np.load(tmp_path / "m.npz"))

    forbid_draws()
    loaded = softgrad.load(tmp_path / "m.npz").network
    assert loaded.get_config() == network.get_config()
    got, grads = loaded.named_params(), loaded.named_grads()
    assert list(got) == list(params)
    for name, array in got.items():
        assert array.dtype == stored[name].dtype == params[name].dtype, name
        np.testing.assert_array_equal(_bits(array), _bits(stored[name]), err_msg=name)
        assert array.base is got.flat and grads[name].base is grads.flat
    np.testing.assert_array_equal(grads.flat, 0)
    for old, new in zip(network.layers, loaded.layers, strict=True):
        assert type(new) is type(old)


def test_a_file_of_float64_weights_whose_layers_say_float32_loads_as_float64(tmp_path):
    # the weights' dtype wins over the dtype the architecture names, as it always did
    network = build_mlp(3, [4], 2, rng=0, dtype=np.float64)
    model = Model(network, ["a", "b"])
    arrays = {**network.named_params(), "classes": np.array(["a", "b"])}
    arrays.update({f"scaler.{k}": v for k, v in Scaler().to_arrays().items()})
    config = network.get_config()
    for spec in config["layers"]:
        if spec["type"] == "Linear":
            spec["config"]["dtype"] = "float32"
    meta = {"network": config, "image_shape": None, "metadata": {}, "scaled": False}
    softgrad.serialization.write_npz(tmp_path / "m.npz", arrays, meta)
    loaded = softgrad.load(tmp_path / "m.npz")
    assert loaded.network.named_params().flat.dtype == np.float64
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_loading_peaks_at_the_weights_and_their_gradients(tmp_path, traced_peak):
    # building from the architecture drew every Linear (weights and gradients) and the store
    # copied them while the file's arrays were still held: 4x the weights' bytes. Now the
    # store's buffer takes each array as it is let go, then the gradients: 2x
    softgrad.save(build_mlp(784, [2048, 2048], 10, rng=0), tmp_path / "m.npz")
    model, peak = traced_peak(lambda: softgrad.load(tmp_path / "m.npz"))
    size = model.network.named_params().flat.nbytes  # 23 MB
    assert peak <= 2.05 * size + (1 << 20), f"peak {peak / size:.2f}x the weights' {size} bytes"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"size": 3}, r"config of a Linear must be its constructor arguments; got .*'size': 3"),
        ({"init": "xavier"}, r"Linear: init must be one of 'he', 'glorot'; got 'xavier'"),
        ({"dtype": "int8"}, r"Linear: dtype must be"),
        ({"bias": 1}, r"layer 0 bias must be true or false; got 1"),
    ],
)
def test_a_linear_the_file_declares_wrongly_is_named_as_before(tmp_path, edit, message):
    network = build_mlp(3, [4], 2, rng=0)
    softgrad.save(network, tmp_path / "m.npz")
    stored = dict(np.load(tmp_path / "m.npz"))
    header = json.loads(stored["__meta__"].tobytes())
    header["meta"]["network"]["layers"][0]["config"].update(edit)
    stored["__meta__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **stored)
    with pytest.raises(ModelFileError, match=r"bad\.npz'.*" + message):
        softgrad.load(tmp_path / "bad.npz")

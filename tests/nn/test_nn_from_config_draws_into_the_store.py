"""Sequential.from_config draws each Linear straight into the parameter store's buffers, as
build_mlp does: the weights of the layers built one by one (the same numbers and generator
state after), and no copy of them (building peaked at 3x the weights' bytes)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from softgrad.nn import LAYERS, Linear, ReLU, Sequential, Sigmoid, Tanh, build_mlp


def _one_by_one(config, generator):
    """The layers as from_config built them before: each by its own class, Linear drawing
    through its own init, every rng-taking layer sharing ``generator`` in order."""
    layers = []
    for spec in config["layers"]:
        cls, kwargs = LAYERS[spec["type"]], dict(spec["config"])
        if cls is Sequential:
            layers.append(Sequential(*_one_by_one(kwargs, generator)))
        elif "rng" in inspect.signature(cls).parameters:
            layers.append(cls(**kwargs, rng=generator))
        else:
            layers.append(cls(**kwargs))
    return layers


def _bits(array):
    return array.view(f"u{array.dtype.itemsize}")


CONFIGS = {
    # a W of 300,000 scalars: drawn in more than one block; Dropout shares the generator
    "mlp": build_mlp(600, [500, 16], 5, dropout=0.3, rng=0).get_config(),
    "nested": Sequential(
        Linear(7, 6, init="glorot", dtype=np.float64),
        Tanh(),
        Sequential(Linear(6, 5, bias=False, dtype=np.float64), Sigmoid()),
        Linear(5, 3, dtype=np.float64),
    ).get_config(),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_weights_are_those_of_the_layers_drawn_one_by_one(name):
    config = CONFIGS[name]
    generator, expected_generator = np.random.default_rng(11), np.random.default_rng(11)
    network = Sequential.from_config(config, rng=generator)
    expected = Sequential(*_one_by_one(config, expected_generator)).named_params()
    params = network.named_params()
    assert list(params) == list(expected)
    for key, value in params.items():
        assert value.dtype == expected[key].dtype, key
        np.testing.assert_array_equal(_bits(value), _bits(expected[key]), err_msg=key)
        assert value.base is params.flat, key  # drawn in place: a view of the store
    grads = network.named_grads()
    assert all(value.base is grads.flat and not value.any() for value in grads.values())
    assert generator.random() == expected_generator.random()  # the same draws were taken
    assert network.get_config() == config


def test_building_peaks_at_the_weights_and_their_gradients(traced_peak):
    config = build_mlp(784, [1024, 1024], 10, rng=0).get_config()
    network, peak = traced_peak(lambda: Sequential.from_config(config, rng=1))
    size = network.named_params().flat.nbytes  # 7.3 MB
    # the buffers, and the 2 MB block of float64 draws of Linear's init
    assert peak <= 2 * size + (1 << 21) + (1 << 16), f"peak {peak / size:.2f}x of {size} bytes"


def test_a_config_without_linear_layers_or_of_two_dtypes_builds_as_before():
    assert Sequential.from_config(Sequential(ReLU()).get_config(), rng=0).named_params() == {}
    layers = [Linear(3, 2), Linear(2, 2, dtype=np.float64)]
    two = {"layers": [{"type": "Linear", "config": layer.get_config()} for layer in layers]}
    with pytest.raises(ValueError, match="parameters must share one dtype"):  # as before
        Sequential.from_config(two, rng=0)
    with pytest.raises(ValueError, match="config of a Linear must be its constructor"):
        Sequential.from_config({"layers": [{"type": "Linear", "config": {"size": 3}}]}, rng=0)

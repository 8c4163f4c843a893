"""as_generator: every seed NumPy takes gives a generator; everything else is refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn.layer import as_generator
from softgrad.training import fit

EXPECTED = "rng must be a numpy.random.Generator, an int seed >= 0 or None"


@pytest.mark.parametrize(
    "seed", [0, 7, np.int64(7), np.uint8(7), np.uint64(2**64 - 1), 2**200], ids=repr
)
def test_every_non_negative_integer_seeds_the_generator_numpy_would_make(seed):
    generator = as_generator(seed, "fit")
    expected = np.random.default_rng(int(seed)).standard_normal(3)
    np.testing.assert_array_equal(generator.standard_normal(3), expected)


def test_a_generator_is_shared_and_none_draws_fresh_entropy():
    generator = np.random.default_rng(0)
    assert as_generator(generator, "fit") is generator
    assert isinstance(as_generator(None, "fit"), np.random.Generator)


@pytest.mark.parametrize("seed", [-1, np.int8(-3), -(2**70)], ids=repr)
def test_a_negative_seed_is_refused_naming_the_parameter_and_the_rule(seed):
    with pytest.raises(ValueError) as caught:
        as_generator(seed, "fit")
    assert str(caught.value) == f"fit: {EXPECTED}; got {seed!r}"


@pytest.mark.parametrize(
    "seed",
    [True, np.bool_(False), 1.0, np.float32(2), "0", [1, 2], np.array(3), np.random.RandomState(0)],
    ids=lambda seed: type(seed).__name__,
)
def test_what_is_not_an_integer_seed_is_refused_with_its_type(seed):
    with pytest.raises(TypeError) as caught:
        as_generator(seed, "Linear")
    assert str(caught.value) == f"Linear: {EXPECTED}; got {seed!r}"


def test_fit_with_a_negative_rng_names_fit_and_the_rule():
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.optim import SGD

    network = build_mlp(2, [], 2, rng=0)
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=rf"^fit: {EXPECTED}; got -1$"):
        fit(network, CrossEntropyLoss(), SGD(lr=0.1), X, y, rng=-1, epochs=1)

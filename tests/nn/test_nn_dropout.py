"""Dropout: inverted scaling, eval identity, explicit-generator masks, gradients."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.gradcheck import gradcheck
from softgrad.nn import Dropout


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)])
def test_dropout_passes_gradcheck_in_training_mode(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    result = gradcheck(Dropout(0.4, rng=1), x, rng=rng)
    assert result.ok, str(result)


def test_kept_entries_are_scaled_and_backward_uses_the_same_mask(rng):
    layer = Dropout(0.25, rng=3)
    x = rng.standard_normal((50, 40)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)
    g = rng.standard_normal(x.shape).astype(np.float32)
    grad_x = layer.backward(g)
    assert grad_x.dtype == np.float32
    np.testing.assert_allclose(grad_x[kept], g[kept] / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(grad_x[~kept], 0.0)


def test_drop_fraction_and_mean_are_preserved_on_average():
    layer = Dropout(0.3, rng=0)
    y = layer.forward(np.ones(200_000))
    dropped = np.mean(y == 0)
    # binomial std of the fraction is sqrt(0.3 * 0.7 / 2e5) = 1e-3; allow 5 std
    assert abs(dropped - 0.3) < 5e-3
    assert abs(y.mean() - 1.0) < 1e-2


def test_eval_mode_and_p_zero_are_the_identity_with_fresh_arrays(rng):
    x = rng.standard_normal((3, 4))
    for layer in (Dropout(0.5, rng=0).eval(), Dropout(0.0, rng=0)):
        y = layer.forward(x)
        np.testing.assert_array_equal(y, x)
        assert not np.shares_memory(y, x)
        g = rng.standard_normal((3, 4))
        np.testing.assert_array_equal(layer.backward(g), g)


def test_p_one_drops_everything():
    layer = Dropout(1.0, rng=0)
    np.testing.assert_array_equal(layer.forward(np.ones(5)), 0.0)
    np.testing.assert_array_equal(layer.backward(np.ones(5)), 0.0)


def test_masks_come_from_the_explicit_generator():
    a = Dropout(0.5, rng=np.random.default_rng(42)).forward(np.ones(100))
    b = Dropout(0.5, rng=42).forward(np.ones(100))
    np.testing.assert_array_equal(a, b)
    layer = Dropout(0.5, rng=42)
    first, second = layer.forward(np.ones(100)), layer.forward(np.ones(100))
    assert not np.array_equal(first, second)  # the stream advances


def test_config_excludes_the_generator():
    assert Dropout(0.2, rng=0).get_config() == {"p": 0.2}
    assert repr(Dropout(0.2)) == "Dropout(p=0.2)"


def test_errors():
    with pytest.raises(ValueError, match=r"p must be a float in \[0, 1\]; got 1.5"):
        Dropout(1.5)
    with pytest.raises(TypeError, match="p must be a float"):
        Dropout("0.5")
    with pytest.raises(RuntimeError, match=r"Dropout\.backward: forward must be called"):
        Dropout(0.5).backward(np.ones(3))
    layer = Dropout(0.5, rng=0)
    layer.forward(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 2\)"):
        layer.backward(np.ones(4))

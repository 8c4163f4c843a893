"""A float16 product on the Numba lane: the bias + activation routines take the NumPy lane's
passes (Numba compiles no float16 arithmetic), so a float16 Linear can call get_ops() on
either lane and get the same numbers bit for bit. Before, a float16 product without a bias
reached the compiled kernel and raised NotImplementedError, and the layer built a NumpyOps of
its own to step around the seam."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import NumpyOps
from softgrad.kernels.numba_ops import NumbaOps

NUMBA, NUMPY = NumbaOps(), NumpyOps()
ACTIVATIONS = ["identity", "relu", "tanh", "sigmoid"]


def _product(rng, with_bias):
    y = (rng.standard_normal((6, 5)) * 3).astype(np.float16)
    y[0, :3] = [np.inf, -np.inf, np.nan]
    return y, (rng.standard_normal(5).astype(np.float16) if with_bias else None)


@pytest.mark.parametrize("with_bias", [False, True], ids=["no bias", "bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float16_bias_activation_is_the_numpy_lanes(activation, with_bias, rng):
    y, b = _product(rng, with_bias)
    expected = NUMPY.bias_activation(y.copy(), b, activation)
    np.testing.assert_array_equal(NUMBA.bias_activation(y.copy(), b, activation), expected)
    for ops in (NUMBA, NUMPY):
        got = y.copy()
        assert ops.bias_activation_finite(got, b, activation) is False  # row 0 held inf, NaN
        np.testing.assert_array_equal(got, expected)
        got = y.copy()
        ops.bind_bias_activation(got, b, activation)()
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.float16

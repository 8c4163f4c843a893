"""The Numba lane's bias + activation and activation VJPs against the NumPy lane
(softgrad.functional's relu/tanh/sigmoid and their VJPs from the output)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad import functional as F
from softgrad.kernels import numba_activations
from softgrad.kernels.numba_ops import NumbaOps

OPS = NumbaOps()
# the NumPy side of every comparison runs on the NumPy lane, whatever the default
pytestmark = pytest.mark.usefixtures("numpy_lane")
DTYPES = [np.float32, np.float64]
# (N, H): serial and threaded loops, the training step's 128 x 100 hidden layer
SHAPES = [(0, 100), (1, 1), (5, 3), (128, 100), (512, 256)]
FORWARD = {
    "identity": lambda x: x,
    "relu": F.relu,
    "tanh": F.tanh,
    "sigmoid": F.sigmoid,
}
# activation -> (NumPy lane, Numba lane) VJP from the output
BACKWARD = {
    "relu": (F.relu_vjp, OPS.relu_vjp),
    "tanh": (F.tanh_vjp, OPS.tanh_vjp),
    "sigmoid": (F.sigmoid_vjp, OPS.sigmoid_vjp),
}
# roundings: the bias add, and numba_math's tanh / exp (1 ulp), which may differ from NumPy's
# (1 ulp for tanh, 3 for exp in float32) in opposite directions
N_OPS = 4
SPECIAL = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e4, -1e4, 88.0, -88.0, 20.0]


def _inputs(rng, shape, dtype, special):
    y = (rng.standard_normal(shape) * 3).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    if special and y.size >= len(SPECIAL):
        y.ravel()[: len(SPECIAL)] = SPECIAL
    return y, b


@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", list(FORWARD))
def test_bias_activation_matches_the_numpy_lane(activation, shape, dtype, special, rng, agree):
    y, b = _inputs(rng, shape, dtype, special)
    expected = FORWARD[activation](y + b)
    out = OPS.bias_activation(y, b, activation)
    assert out is y  # in place
    agree(y, expected, N_OPS, f"{activation}(y + b)")


@pytest.mark.parametrize("activation", list(FORWARD))
def test_no_bias_is_the_plain_activation(activation, rng, agree):
    y, _ = _inputs(rng, (16, 10), np.float32, True)
    expected = FORWARD[activation](y.copy())
    agree(OPS.bias_activation(y, None, activation), expected, N_OPS, activation)


def test_relu_treats_nan_and_negative_zero_as_numpys_maximum():
    y = np.array([[np.nan, -0.0, -1.0, 2.0]], dtype=np.float32)
    OPS.bias_activation(y, None, "relu")
    expected = np.maximum(np.array([[np.nan, -0.0, -1.0, 2.0]], dtype=np.float32), 0.0)
    np.testing.assert_array_equal(y.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("in_place", [False, True], ids=["fresh", "out=grad_y"])
@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", list(BACKWARD))
def test_vjps_match_the_numpy_lane(activation, shape, dtype, special, in_place, rng, agree):
    x, _ = _inputs(rng, shape, dtype, special)
    with np.errstate(invalid="ignore", over="ignore"):
        y = FORWARD[activation](x)
    grad_y = rng.standard_normal(shape).astype(dtype)
    if special and grad_y.size >= 3:
        grad_y.ravel()[-3:] = [np.inf, np.nan, -np.inf]
    numpy_vjp, numba_vjp = BACKWARD[activation]
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 in the NumPy lane too
        expected = numpy_vjp(y, grad_y)
    out = grad_y if in_place else None
    result = numba_vjp(y, grad_y, out=out)
    assert result is grad_y if in_place else result is not grad_y
    agree(result, expected, N_OPS, f"{activation} backward")


@pytest.mark.parametrize("activation", list(FORWARD))
def test_the_same_inputs_give_bit_identical_results(activation, rng):
    y, b = _inputs(rng, (512, 256), np.float32, True)
    first, again = y.copy(), y.copy()
    OPS.bias_activation(first, b, activation)
    OPS.bias_activation(again, b, activation)
    np.testing.assert_array_equal(first, again)
    if activation in BACKWARD:
        g = rng.standard_normal(y.shape).astype(np.float32)
        back = [BACKWARD[activation][1](first, g) for _ in range(2)]
        np.testing.assert_array_equal(back[0], back[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_kernels_own_tanh_matches_numpys(dtype, rng, agree):
    # the kernel's float32 tanh is numba_math's (within 1 ulp), float64's is np.tanh
    y, b = _inputs(rng, (128, 100), dtype, True)
    expected = np.tanh(y + b)
    numba_activations.bias_activation(y, b, numba_activations.TANH)
    agree(y, expected, N_OPS, "kernel tanh(y + b)")

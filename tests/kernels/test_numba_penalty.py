"""The Numba lane's L2 penalty (one fused pass) against the NumPy lane's. (The estimator's parity
with scikit-learn through it: tests/sklearn under SOFTGRAD_KERNELS=numba.)"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels.numba_ops import NumbaOps
from softgrad.kernels.numpy_ops import NumpyOps

NUMBA, NUMPY = NumbaOps(), NumpyOps()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1,), (784, 100), (100, 10)])
def test_the_fused_pass_is_the_numpy_lanes_penalty(rng, agree, dtype, shape):
    W = rng.normal(size=shape).astype(dtype)
    grad = rng.normal(size=shape).astype(dtype)
    expected_grad = grad.copy()
    expected = NUMPY.l2_penalty(W, expected_grad, 1e-4 / 128, np.empty_like(W))
    loss = NUMBA.l2_penalty(W, grad, 1e-4 / 128, np.empty_like(W))
    # g + s * W: one multiply and one add, each rounded once in either lane
    agree(grad, expected_grad, 2, "grad")
    assert loss == expected  # the same BLAS dot in both lanes


def test_other_layouts_go_to_the_numpy_lane(rng):
    W = rng.normal(size=(6, 4))[:, ::2]  # not contiguous
    grad, expected_grad = np.zeros((6, 2)), np.zeros((6, 2))
    assert NUMBA.l2_penalty(W, grad, 0.5, np.empty_like(W)) == NUMPY.l2_penalty(
        W, expected_grad, 0.5, np.empty_like(W)
    )
    np.testing.assert_array_equal(grad, expected_grad)

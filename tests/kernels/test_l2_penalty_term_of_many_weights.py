"""The L2 penalty's loss term of a large float32 layer: a float32 BLAS dot accumulates in
float32, so one dot of 2e7 weights was 9e-5 (SkylakeX) to 7e-4 (Prescott) off the exact sum, in
the loss that ``tol`` and early stopping compare. Summed a chunk's dot at a time in float64, the
term keeps a chunk's error whatever the layer's size."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels import get_ops
from softgrad.kernels.penalty import DOT_CHUNK, penalty_loss

# rounding errors of a sum of positive terms grow like sqrt(n) * eps: the bound of a chunk's dot
CHUNK_RTOL = np.sqrt(DOT_CHUNK) * np.finfo(np.float32).eps


def _exact(W):
    flat = W.reshape(-1)
    return sum(
        float(np.dot(c, c)) for c in np.array_split(flat.astype(np.float64), 1 + flat.size // 10**6)
    )


def test_the_term_of_twenty_million_float32_weights_is_a_chunks_rounding(rng):
    W = rng.standard_normal((20_000, 1_000), dtype=np.float32)
    # one dot of the whole layer is far past a chunk's bound
    np.testing.assert_allclose(penalty_loss(W, 2.0), _exact(W), rtol=CHUNK_RTOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_layer_of_one_chunk_keeps_its_one_dot(rng, dtype):
    W = rng.standard_normal((DOT_CHUNK // 100, 100)).astype(dtype)
    flat = W.reshape(-1)
    assert penalty_loss(W, 0.5) == 0.25 * float(np.dot(flat, flat))  # the same path


def test_both_lanes_add_the_chunked_term(kernel_lane, rng):
    W = rng.standard_normal((3 * DOT_CHUNK + 7,), dtype=np.float32)
    grad = np.zeros_like(W)
    loss = get_ops().l2_penalty(W, grad, 1.0, np.empty_like(W))
    np.testing.assert_allclose(loss, 0.5 * _exact(W), rtol=CHUNK_RTOL)
    np.testing.assert_array_equal(grad, W)  # 0 + 1.0 * W

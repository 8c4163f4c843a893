"""Fixtures for the three ways an optimizer step runs, for tests that must cover each.

``"small"``: plain dicts of small arrays (NumPy ufuncs, below softgrad._blas's size threshold);
``"blas"``: plain dicts with a weight large enough for the BLAS calls; ``"packed"``: the dicts of
a Sequential, whose parameters share one buffer (one flat update, softgrad.optim.flat).
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential

LANES = ("small", "blas", "packed")
SHAPES = {
    "small": {"0.W": (6, 4), "0.b": (4,), "2.W": (4, 3)},
    "blas": {"0.W": (96, 64), "0.b": (64,), "2.W": (64, 3)},  # 6,144 elements: BLAS
    "packed": {"0.W": (96, 64), "0.b": (64,), "2.W": (64, 3)},
}


@pytest.fixture(params=LANES)
def lane(request):
    """Each lane in turn."""
    return request.param


@pytest.fixture
def make_params():
    """The function ``(lane, dtype, rng) -> (params, grads)`` below."""
    return _make_params


def _make_params(lane, dtype, rng):
    """(params, grads) dicts of ``lane``, parameters drawn from ``rng``, gradients zero.

    Fill the gradients in place (``grads[k][...] = g``): for "packed" they are the layers' own
    arrays, views of the gradient buffer.
    """
    shapes = SHAPES[lane]
    values = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    if lane != "packed":
        return values, {k: np.zeros(s, dtype=dtype) for k, s in shapes.items()}
    net = Sequential(Linear(96, 64, dtype=dtype), ReLU(), Linear(64, 3, bias=False, dtype=dtype))
    params, grads = net.named_params(), net.named_grads()
    assert params.keys() == shapes.keys() and hasattr(params, "flat")
    for key, value in values.items():
        params[key][...] = value
    return params, grads

"""Fixtures for the two paths of an optimizer step, for tests that must cover each.

``"dicts"``: plain dicts, updated array by array; ``"store"``: a Sequential's named_params() and
named_grads(), views of its parameter store (one flat update, softgrad.optim.flat).
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential

LANES = ("dicts", "store")
SHAPES = {"0.W": (96, 64), "0.b": (64,), "2.W": (64, 3)}


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

    Fill the gradients in place (``grads[k][...] = g``): for "store" they are the layers' own
    arrays, views of the gradient buffer.
    """
    shapes = SHAPES
    values = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    if lane != "store":
        return values, {k: np.zeros(s, dtype=dtype) for k, s in shapes.items()}
    net = Sequential(Linear(96, 64, dtype=dtype), ReLU(), Linear(64, 3, bias=False, dtype=dtype))
    params, grads = net.named_params(), net.named_grads()
    assert params.keys() == shapes.keys() and params.store is not None
    for key, value in values.items():
        params[key][...] = value
    return params, grads

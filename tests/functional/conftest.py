"""Helpers for the functional tests, served as fixtures (importlib mode cannot import siblings).

``close(actual, expected, rtol, atol, what)`` asserts closeness and, on failure, names the worst
index with the expected and actual values there. ``central_diff(f, x, g)`` is a float64 central
finite-difference VJP: sum over outputs of g * df/dx, one coordinate at a time (softgrad's own
gradcheck is tested separately; these tests must not depend on it).
"""

from __future__ import annotations

import numpy as np
import pytest


def _close(actual, expected, rtol, atol, what="value"):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape mismatch: expected {expected.shape}, actual {actual.shape}"
    )
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    with np.errstate(invalid="ignore"):  # inf - inf where only one side is +-inf
        err = np.where(same, 0.0, np.abs(a - e))
        bad = ~same & ~(err <= atol + rtol * np.abs(e))
        excess = np.where(bad, np.nan_to_num(err - atol - rtol * np.abs(e), nan=np.inf), -1.0)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(excess)), a.shape) if a.ndim else ()
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {a.size} entries differ (rtol={rtol}, atol={atol}); "
            f"worst at index {tuple(int(i) for i in idx)}: expected {e[idx]!r}, actual {a[idx]!r}"
        )


def _central_diff(f, x, g, h=1e-6):
    """VJP by float64 central differences: grad[k] = sum(g * (f(x + h e_k) - f(x - h e_k))) / 2h."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + h
        up = np.asarray(f(x), dtype=np.float64)
        flat[k] = orig - h
        down = np.asarray(f(x), dtype=np.float64)
        flat[k] = orig
        gflat[k] = np.sum(g * (up - down)) / (2 * h)
    return grad


@pytest.fixture
def close():
    return _close


@pytest.fixture
def central_diff():
    return _central_diff

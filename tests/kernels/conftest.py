"""Shared by the kernel tests: comparing two lanes with a tolerance derived from the dtype."""

from __future__ import annotations

import numpy as np
import pytest


def _agree(actual, expected, n_ops, what="result", magnitude=1.0):
    """``actual`` matches ``expected`` within ``n_ops`` roundings of their dtype, relative to the
    largest finite magnitude (of the result, or ``magnitude``, the largest operand a result
    was computed from, where a difference cancels), with NaN, +inf and -inf at exactly the
    same places."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (what, actual.dtype, expected.dtype)
    for special in (np.isnan, np.isposinf, np.isneginf):
        where = np.flatnonzero(special(actual) != special(expected))
        assert where.size == 0, (
            f"{what}: {special.__name__} differs at flat index {where[:5]}: "
            f"expected {expected.ravel()[where[:5]]}, got {actual.ravel()[where[:5]]}"
        )
    finite = np.isfinite(expected)
    if not finite.any():
        return
    eps = float(np.finfo(expected.dtype).eps)
    scale = max(1.0, magnitude, float(np.max(np.abs(expected[finite]))))
    tol = n_ops * eps * scale
    err = np.abs(actual[finite].astype(np.float64) - expected[finite].astype(np.float64))
    worst = int(np.argmax(err))
    assert err[worst] <= tol, (
        f"{what}: expected {expected[finite][worst]!r}, got {actual[finite][worst]!r} at finite "
        f"entry {worst} (error {err[worst]:.3g} > {n_ops} roundings = {tol:.3g})"
    )


@pytest.fixture
def agree():
    """``agree(actual, expected, n_ops, what)``: see :func:`_agree`."""
    return _agree

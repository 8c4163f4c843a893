"""Long float32 rows keep the digits NumPy's pairwise sum keeps, on both lanes: a row sum by
running sums (einsum, a dot product) lost 7,995 ulps of a logsumexp over 3e7 entries, 1.5e-2 of
a softmax, and 6.3e-4 of a log-softmax VJP over two rows of 1e6, where NumPy and torch lost none
or one. The rows here are constant, so the exact answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

import softgrad.functional as F

C = 100_000  # the old sums were 52 ulps off here (a logsumexp of 0.1s, on the Numba lane)
EPS = float(np.finfo(np.float32).eps)


def _ulps(got: float, exact: float) -> float:
    return abs(got - exact) / (EPS * abs(exact))


@pytest.mark.parametrize("value", [-1.0, 0.1])
def test_logsumexp_softmax_and_log_softmax_of_a_long_row(kernel_lane, value):
    x = np.full((2, C), value, np.float32)
    exact_lse = float(np.float32(value)) + math.log(C)
    lse = F.logsumexp(x, axis=-1)
    assert lse.dtype == np.float32
    assert max(_ulps(float(v), exact_lse) for v in lse) <= 2, lse
    s = F.softmax(x)
    assert np.max(np.abs(s.astype(np.float64) * C - 1.0)) <= 4 * EPS
    logp = F.log_softmax(x)
    assert np.max(np.abs(logp.astype(np.float64) + math.log(C))) <= 4 * EPS * math.log(C)


def test_the_softmax_products_of_a_long_row(kernel_lane):
    # s = 1/C everywhere: softmax_vjp(s, g) = s * (g - mean(g)); for g constant it is 0, and
    # log_softmax_vjp(logp, g) = g - s * sum(g) = g - g = 0 likewise: any error is the sum's
    logp = np.full((2, C), -math.log(C), np.float32)
    s = np.exp(logp)
    g = np.full((2, C), 0.7, np.float32)
    scale = 0.7  # the size of the terms that cancel
    assert np.max(np.abs(F.log_softmax_vjp(logp, g))) <= 8 * EPS * scale
    assert np.max(np.abs(F.log_softmax_jvp(logp, g))) <= 8 * EPS * scale
    assert np.max(np.abs(F.softmax_vjp(s, g))) <= 8 * EPS * scale / C

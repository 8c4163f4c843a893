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


@pytest.mark.parametrize("shift", [0.0, 800.0])  # 800: exps past 2**64 unshifted, shifted
def test_long_float64_rows_keep_their_digits(kernel_lane, shift):
    # float64 has no wider sum: the Numba lane summed a row in one vectorised running sum (or,
    # shifted, in order), and its softmax summed to 1 +- 134 roundings here (1,080 shifted),
    # its log-softmax and cross-entropy as far off; NumPy's pairwise sum kept 4
    eps = float(np.finfo(np.float64).eps)
    x = np.r_[0.0, np.full(C - 1, -11.5)] + shift
    rest = (C - 1) * math.exp(-11.5)  # the other entries' share, against the first's 1
    s = F.softmax(x)
    assert abs(math.fsum(s) - 1.0) <= 6 * eps
    assert abs(float(s[0]) - 1 / (1 + rest)) <= 4 * eps / (1 + rest)
    assert abs(float(F.log_softmax(x)[0]) + math.log1p(rest)) <= 4 * eps
    loss = F.cross_entropy(x[None], np.array([0]))
    assert abs(float(loss) - math.log1p(rest)) <= 4 * eps
    # sum(g * s) over the row: s * (g - sum(g * s)) is 0 for g constant, up to the dot's error
    assert np.max(np.abs(F.softmax_vjp(s, np.full(C, 0.7)))) <= 8 * eps * 0.7 * float(s.max())


def test_float64_log_probabilities_of_logits_near_44_keep_a_rounding_of_1(kernel_lane, rng):
    # unshifted (every row's exps sum in [1, 2**64]), x - log(S) took log(S), up to 44.4,
    # rounded to float64: 16 roundings of 1 off near 0 ([33.27, 0] gave -7.1e-15 for -3.56e-15)
    eps = float(np.finfo(np.float64).eps)
    x = rng.uniform(30.0, 44.0, (2000, 10))
    x[:, 0] = x.max(axis=1) + rng.uniform(0.0, 5.0, 2000)
    x = np.minimum(x, 44.0)
    got = F.log_softmax(x)
    m = x.max(axis=1, keepdims=True)
    others = np.where(x == m, 0.0, np.exp(x - m))  # the max's own 1 left out of the sum
    exact = (x - m) - np.log1p(others.sum(axis=1, keepdims=True))  # within a rounding of 1
    err = np.abs(got - exact) / np.maximum(1.0, np.abs(exact))
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= 4 * eps, (x[worst[0]], got[worst], exact[worst])
    assert float(F.log_softmax(np.array([33.26929937139761, 0.0]))[0]) == pytest.approx(
        -3.558990807061558e-15, abs=2 * eps
    )


@pytest.mark.parametrize("n_classes", [256, 300])  # 300: blocks of 256 and their compensation
def test_an_infinite_cotangent_of_a_long_float64_row_is_nan_there_and_inf_elsewhere(
    kernel_lane, n_classes
):
    # torch's pattern (s * (v - sum(v * s))); the blocks' compensation took inf - inf at first,
    # which made the whole row NaN
    s = np.full((1, n_classes), 1.0 / n_classes)
    v = np.zeros((1, n_classes))
    v[0, 0] = np.inf
    for product in (F.softmax_vjp, F.softmax_jvp):
        got = product(s, v)
        assert np.isnan(got[0, 0]) and np.all(got[0, 1:] == -np.inf), (product.__name__, got[0, :3])

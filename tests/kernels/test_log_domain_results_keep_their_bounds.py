"""The log-domain results keep their mathematical bounds and their accuracy near 0, on both
lanes: a cross-entropy is never below 0, and logsumexp is never below its row's max.

Both came from exps taken without the max shift (kernels.softmax): log(S) - x_y carried the
rounding of exp(x_y), so a third of confident float32 rows had a negative loss (-2.1e-8 for
[20, 0], target 0, where it is 2.06e-9), and log(S) came out below the max (float32
[0.8936608, -17.08] gave 0.8936607; float64 [1e-150] gave 0), 200 roundings off near 0. The
loss now comes from the exps as a ratio, log(S / e_y); logsumexp always shifts.

Each test runs on the default lane (``softgrad.functional``) and on the NumPy lane (the
``numpy_lane`` fixture), against a float64 (or exact) reference, with tolerances in roundings
of the dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

import softgrad.functional as F
from softgrad.nn import CrossEntropyLoss


@pytest.fixture(params=["default", "numpy"])
def lane(request):
    if request.param == "numpy":
        request.getfixturevalue("numpy_lane")
    return request.param


def _confident(rng, n, dtype):
    """n rows of 10 logits whose target (class 0) dominates by 15 to 40: losses from 4e-18
    to 3e-7, where log(S) - x_y cancelled."""
    x = rng.standard_normal((n, 10)) * 3
    x[:, 0] = x[:, 1:].max(axis=1) + rng.uniform(15, 40, n)
    return x.astype(dtype)


def _exact_loss(x):
    # log(1 + sum_{c > 0} exp(x_c - x_0)) in float64 from the logits as given: exact to a
    # float64 rounding relative to itself (log1p of a small sum)
    x = x.astype(np.float64)
    return np.log1p(np.exp(x[:, 1:] - x[:, :1]).sum(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_confident_rows_cross_entropy_is_never_below_0_and_as_accurate(lane, rng, dtype):
    x = _confident(rng, 20_000, dtype)
    loss = F.cross_entropy(x, np.zeros(len(x), np.int64), reduction="none")
    assert loss.min() >= 0, f"{np.count_nonzero(loss < 0)} negative losses, down to {loss.min()!r}"
    # within a few roundings of 1 (what a log-probability near 0 is known to, as PyTorch's)
    eps = float(np.finfo(dtype).eps)
    err = np.abs(loss.astype(np.float64) - _exact_loss(x))
    assert err.max() <= 4 * eps, f"error {err.max():.3g} > 4 roundings of 1 ({4 * eps:.3g})"
    mean = CrossEntropyLoss().forward(x, np.zeros(len(x), np.int64))
    assert mean >= 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [5.0, 40.0, -3.0])  # -3: a sum below 1, shifted
def test_the_cross_entropy_of_one_class_is_0(lane, dtype, value):
    x = np.full((4, 1), value, dtype)  # one call of its own: a row below 1 shifts them all
    assert F.cross_entropy(x, np.zeros(4, np.int64), reduction="none").tolist() == [0] * 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_target_of_a_tiny_exp_keeps_its_large_loss(lane, dtype):
    # exp(-100) is below the ratio's bound (2**-63): log(S) - x_y, as before
    x = np.array([[-100.0, 3.0, 1.0], [-50.0, 0.0, 0.0]], dtype)
    loss = F.cross_entropy(x, np.zeros(2, np.int64), reduction="none")
    expected = np.log(np.exp(x.astype(np.float64)).sum(axis=1)) - x[:, 0].astype(np.float64)
    np.testing.assert_allclose(loss, expected, rtol=4 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_is_never_below_its_rows_max(lane, rng, dtype):
    # one dominant entry in [0, 44], the others far below: ~1% of rows broke it unshifted
    x = np.stack([rng.uniform(0, 44, 20_000), rng.uniform(-40, -10, 20_000)], axis=1)
    x = x.astype(dtype)
    lse = F.logsumexp(x, axis=1)
    below = np.flatnonzero(lse < x.max(axis=1))
    assert below.size == 0, (
        f"{below.size} rows below their max, e.g. {x[below[0]]} -> {lse[below[0]]}"
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_near_0_is_accurate_relative_to_itself(lane, rng, dtype):
    # m + log1p(r), the max's own exp (exactly 1) kept out of r's sum: m + log(1 + r) rounded
    # 1 + r first, so [0, -40] gave 0 where its logsumexp is 4.25e-18, and a row of max 0 was
    # accurate only to a rounding of 1 (as torch.logsumexp is; scipy's is not since 1.15)
    n = 5000
    x = rng.uniform(-60.0, -1.0, (n, 6))
    x[np.arange(n), rng.integers(0, 6, n)] = 0.0  # the max, anywhere in its row
    x = x.astype(dtype)
    others = np.where(x == 0, -np.inf, x.astype(np.float64))
    # log1p of the sum in float64 of exps of the values as given: float32's exact, float64's
    # within about 3 of its roundings, relative to itself
    exact = np.log1p(np.exp(others).sum(axis=1))
    lse = F.logsumexp(x, axis=1)
    rel = np.abs(lse.astype(np.float64) - exact) / exact
    worst = int(np.argmax(rel))
    eps = float(np.finfo(dtype).eps)
    assert rel[worst] <= 4 * eps, (x[worst], lse[worst], exact[worst])
    assert float(F.logsumexp(np.array([0.0, -40.0], dtype))) == pytest.approx(
        4.248354255291589e-18, rel=2 * eps
    )


@pytest.mark.parametrize(
    ("row", "dtype", "expected"),
    [
        ([1e-150], np.float64, 1e-150),
        ([1e-8], np.float32, 1e-8),
        ([1e-3, -30.0], np.float32, 1e-3 + np.log1p(np.exp(-30.001))),
        ([1e-3, -60.0], np.float64, 1e-3 + np.log1p(np.exp(-60.001))),
        ([0.01, -20.0, -25.0], np.float32, 0.01 + np.log1p(np.exp(-20.01) + np.exp(-25.01))),
    ],
)
def test_logsumexp_near_0_keeps_the_precision_of_its_max(lane, row, dtype, expected):
    # where the other entries are below a rounding of the max, logsumexp is the max to its own
    # precision: unshifted it was 200 roundings off ([1e-3, -30] in float32), 0.0 for [1e-150]
    lse = float(F.logsumexp(np.array(row, dtype)))
    eps = float(np.finfo(dtype).eps)
    assert abs(lse - expected) <= 2 * eps * abs(expected), (lse, expected)


def _exact_distribution_loss(x, t):
    # sum_c t_c * ((m - x_c) + log1p(r)), r the other entries' exps against the max's 1: every
    # term at least 0, so the sum is within a few float64 roundings of itself
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    others = np.where(x == m, 0.0, np.exp(x - m)).sum(axis=1, keepdims=True)
    return np.sum(t * ((m - x) + np.log1p(others)), axis=1)


@pytest.mark.parametrize("smoothing", [False, True])
def test_a_float64_distribution_loss_near_large_logits_keeps_a_rounding_of_1(lane, rng, smoothing):
    # log(S) * sum(t) - sum(t * x) cancelled: 70 roundings of 1 with label smoothing near logits
    # of 32, 46 with probability targets; each t_c * (log(S) - x_c) now, as torch's log-softmax
    n = 4000
    x = rng.uniform(-2.0, 2.0, (n, 4))
    x[np.arange(n), rng.integers(0, 4, n)] = rng.uniform(20.0, 44.0, n)  # unshifted: S < 2**64
    y = rng.integers(0, 4, n)
    if smoothing:
        loss = F.cross_entropy(x, y, label_smoothing=0.01, reduction="none")
        t = np.full((n, 4), 0.01 / 4) + 0.99 * np.eye(4)[y]
    else:
        t = rng.dirichlet(np.ones(4), n)
        loss = F.cross_entropy(x, t, reduction="none")
    exact = _exact_distribution_loss(x, t)
    err = np.abs(loss - exact) / np.maximum(1.0, exact)
    worst = int(np.argmax(err))
    assert err[worst] <= 4 * np.finfo(np.float64).eps, (x[worst], t[worst], loss[worst])


def test_a_float32_distribution_loss_is_never_below_0(lane, rng):
    # a confident row whose target is its max class, class weights 4: -6e-7 (the exps' rounding
    # through log(S) * sum(t) - sum(t * x)); each t_c * (log(S) - x_c) is at least 0 now
    x = rng.standard_normal((20_000, 10)).astype(np.float32)
    x[:, 0] = rng.uniform(15.0, 43.0, 20_000)  # every row's exps sum below 2**64: unshifted
    target = np.eye(10, dtype=np.float32)[np.zeros(20_000, np.int64)]
    target[-1, 5] = -0.01  # torch takes negative targets: that row's loss may be below 0, and
    # the others are still held to the bound (a test of the whole call's targets freed them)
    loss = F.cross_entropy(x, target, weight=np.full(10, 4, np.float32), reduction="none")
    loss, target, x = loss[:-1], target[:-1], x[:-1]
    assert loss.min() >= 0, f"{np.count_nonzero(loss < 0)} negative losses, down to {loss.min()!r}"
    assert np.max(np.abs(loss - 4 * _exact_loss(x))) <= 4 * 4 * np.finfo(np.float32).eps

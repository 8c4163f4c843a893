"""Rows that need the max shift, a whole block of them, come out as the NumPy lane's.

The Numba lane takes rows in blocks and keeps their exps unshifted where every row sum of a
block keeps them; a block of large logits (a network's, on unscaled inputs) is shifted, each
row by its maximum. That path took the exps of one row at a time (a block of 10-class rows at
4-6x an ordinary block's time); it now takes them in one flat loop over the block, and long
rows find their maximum in eight running maxima. These tests hold the results: every kernel
that reads such blocks (softmax, log_softmax, the per-row cross-entropy and its gradient, the
training step's fused loss and count), in place and not, with the limit rows (NaN, +inf
once and k times, only -inf, some -inf) at a block's first and last rows and in between,
against the NumPy lane within a few roundings of the dtype; and the long rows' maximum is
np.max's, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import softgrad.functional as F
from softgrad.kernels.numpy_ops import NumpyOps

numba = pytest.importorskip("numba")

from softgrad.kernels.numba_exp_rows import SOFTMAX_BLOCK, _row_max  # noqa: E402
from softgrad.kernels.numba_ops import NumbaOps  # noqa: E402

# rows of the block path (C < LONG_ROW: 1 .. 63) and of the long-row path (64 and more; from
# PEEK_ROW_MIN, 1024, a row of large logits skips its unshifted exps)
CLASSES = [1, 2, 10, 31, 40, 63, 64, 100, 1000, 2048]
DTYPES = [np.float32, np.float64]


def _large_logits(rng, n_classes, dtype):
    """Three blocks and a part of large logits (every block needs the shift), with limit
    rows at the first and last row of the first block and in the second."""
    per_block = max(1, SOFTMAX_BLOCK // n_classes)
    n_rows = 3 * per_block + per_block // 2 + 2
    x = (rng.standard_normal((n_rows, n_classes)) * 60).astype(dtype)
    x[:, 0] += 50  # every row's sum beyond 2**64 or below 1, whatever the other entries
    limits = {
        0: np.nan,  # a NaN entry
        per_block - 1: np.inf,  # one +inf entry
        per_block + 1: "k inf",  # +inf at half the entries
        per_block + 2: "all -inf",
        per_block + 3: "some -inf",
    }
    for row, kind in limits.items():
        row = min(row, n_rows - 1)
        if kind == "k inf":
            x[row, : max(1, n_classes // 2)] = np.inf
        elif kind == "all -inf":
            x[row] = -np.inf
        elif kind == "some -inf":
            x[row, 1::2] = -np.inf
        else:
            x[row, n_classes // 2] = kind
    return x


def _on(ops, compute):
    from softgrad.kernels import registry

    saved = registry._active
    registry._active = {"ops": ops}
    try:
        with np.errstate(all="ignore"):
            return compute()
    finally:
        registry._active = saved


def _both(compute):
    return _on(NumbaOps(), compute), _on(NumpyOps(), compute)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", CLASSES)
def test_softmax_and_log_softmax_of_shifted_blocks(n_classes, dtype, rng, agree):
    x = _large_logits(rng, n_classes, dtype)
    # log-probabilities are differences of logits: roundings of the largest one
    magnitude = float(np.abs(x[np.isfinite(x)]).max())

    def into(function, in_place):
        def compute():
            y = x.copy()
            result = function(y, out=y) if in_place else function(y)
            assert (result is y) == in_place
            return result

        return compute

    for name, function, bound in [
        ("softmax", F.softmax, 1.0),
        ("log_softmax", F.log_softmax, magnitude),
    ]:
        for in_place in (False, True):
            numba_result, numpy_result = _both(into(function, in_place))
            agree(numba_result, numpy_result, 4, f"{name}, in place: {in_place}", bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", CLASSES)
def test_cross_entropy_of_shifted_blocks(n_classes, dtype, rng, agree):
    x = _large_logits(rng, n_classes, dtype)
    target = rng.integers(0, n_classes, x.shape[0])
    target[min(SOFTMAX_BLOCK // n_classes, x.shape[0] - 1)] = 0  # a +inf row's +inf target
    magnitude = float(np.abs(x[np.isfinite(x)]).max())
    for name, compute in [
        ("per-row losses", lambda: F.cross_entropy(x, target, reduction="none")),
        ("gradient", lambda: F.cross_entropy_grad(x, target, reduction="none")),
        ("gradient in place", lambda: F.cross_entropy_grad(y := x.copy(), target, out=y)),
    ]:
        numba_result, numpy_result = _both(compute)
        agree(numba_result, numpy_result, 4, name, magnitude=magnitude)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", CLASSES)
def test_the_training_steps_loss_gradient_and_count_of_shifted_blocks(n_classes, dtype, rng, agree):
    x = _large_logits(rng, n_classes, dtype)
    finite = np.isfinite(x).all(axis=1)
    x = np.ascontiguousarray(x[finite])  # the training step's logits are finite
    target = rng.integers(0, n_classes, x.shape[0])
    target[::3] = np.argmax(x[::3], axis=1)  # hits to count
    results = {}
    for lane, ops in [("numba", NumbaOps()), ("numpy", NumpyOps())]:
        grad = np.empty_like(x)
        with np.errstate(all="ignore"):
            loss, correct = ops.softmax_cross_entropy_mean_correct(x, target, grad)
        results[lane] = (loss, correct, grad)
    (loss, correct, grad), (loss_np, correct_np, grad_np) = results["numba"], results["numpy"]
    assert correct == correct_np == np.sum(np.argmax(x, axis=1) == target)
    agree(np.asarray(loss, dtype), np.asarray(loss_np, dtype), 8, "mean loss", float(abs(x).max()))
    agree(grad, grad_np, 4, "gradient")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_long_rows_maximum_is_np_max(dtype, rng):
    finfo = np.finfo(dtype)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, finfo.max, -finfo.max, finfo.tiny / 4]
    for n in [*range(1, 41), 64, 100, 1000, 1001]:
        for trial in range(6):
            row = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 30)).astype(dtype)
            if trial >= 2:  # one special value somewhere, or two
                for _ in range(trial - 1):
                    row[rng.integers(0, n)] = specials[rng.integers(0, len(specials))]
            expected = np.max(row)
            got = _row_max(row)
            if np.isnan(expected):
                assert np.isnan(got), (n, row)
            else:
                assert got == expected, (n, trial, got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_peek_decides_what_the_sums_would(dtype):
    # a block, or a row of PEEK_ROW_MIN entries or more, skips its unshifted exps where one of
    # its first PEEK entries is at least SURELY_BEYOND: exact only if that entry's exp alone is
    # beyond UNSHIFTED_MAX (then every sum holding it fails the check), far beyond a rounding
    from numba import njit

    from softgrad.kernels.numba_exp_rows import PEEK, SURELY_BEYOND, _surely_beyond
    from softgrad.kernels.numba_math import exp
    from softgrad.kernels.softmax import UNSHIFTED_MAX

    @njit
    def exps(x, out):
        for i in range(x.size):
            out[i] = exp(x[i])

    x = np.array([SURELY_BEYOND], dtype)
    out = np.empty_like(x)
    exps(x, out)
    assert out[0] > 1.1 * UNSHIFTED_MAX
    row = np.zeros(2 * PEEK, dtype)
    row[PEEK - 1] = SURELY_BEYOND
    assert _surely_beyond(row)
    row[PEEK - 1] = np.nextafter(dtype(SURELY_BEYOND), dtype(0))
    row[PEEK] = SURELY_BEYOND  # past the entries it reads
    assert not _surely_beyond(row)

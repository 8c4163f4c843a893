"""The fused seam methods (bias_activation, softmax_cross_entropy_mean_correct) in both lanes:
NumbaOps against NumpyOps on the same inputs, to a tolerance derived from the dtype, and the
NumPy twin against its definition (separate passes)."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import functional as F
from softgrad.kernels.numpy_ops import NumpyOps

numba_ops = pytest.importorskip("softgrad.kernels.numba_ops", reason="the Numba lane needs numba")

NUMPY, NUMBA = NumpyOps(), numba_ops.NumbaOps()
pytestmark = pytest.mark.usefixtures("numpy_lane")
DTYPES = [np.float32, np.float64]
ACTIVATIONS = {"identity": lambda x: x, "relu": F.relu, "tanh": F.tanh, "sigmoid": F.sigmoid}
SPECIAL = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e4, -1e4, 88.0, -88.0]
# roundings: the bias add, and libm's exp/tanh against NumPy's (an ulp or two)
N_ACT = 4
# roundings of the loss pass: exp, the row sum (float64 in one lane, the dtype in the other:
# about log2(C) roundings), the division and the scale
N_LOSS = 16


def _product(rng, shape, dtype, special):
    y = (rng.standard_normal(shape) * 3).astype(dtype)
    if special and y.size >= len(SPECIAL):
        y.ravel()[: len(SPECIAL)] = SPECIAL
    return y, rng.standard_normal(shape[1]).astype(dtype)


@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 7), (1, 1), (5, 3), (128, 100), (300, 64)])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_bias_activation_agrees_in_both_lanes(activation, shape, dtype, special, rng, agree):
    y, b = _product(rng, shape, dtype, special)
    expected = ACTIVATIONS[activation](y + b)
    in_numpy, in_numba = y.copy(), y.copy()
    assert NUMPY.bias_activation(in_numpy, b, activation) is in_numpy  # in place
    assert NUMBA.bias_activation(in_numba, b, activation) is in_numba
    # the NumPy lane is the layers' own formulas, bit for bit
    np.testing.assert_array_equal(in_numpy, expected)
    agree(in_numba, in_numpy, N_ACT, f"{activation}(y + b)")


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_bias_activation_without_bias_and_on_rerun(activation, rng):
    y, _ = _product(rng, (64, 33), np.float32, True)
    runs = [y.copy() for _ in range(2)]
    for run in runs:
        NUMBA.bias_activation(run, None, activation)
    np.testing.assert_array_equal(runs[0], runs[1])  # bit-identical
    plain = y.copy()
    NUMPY.bias_activation(plain, None, activation)
    np.testing.assert_array_equal(plain, ACTIVATIONS[activation](y))


def _case(rng, shape, dtype):
    logits = (rng.standard_normal(shape) * 4).astype(dtype)
    return logits, rng.integers(0, shape[1], size=shape[0])


def _both(logits, target, weight=None, ignore_index=None, in_place=False):
    """(loss, correct, grad) of each lane, on copies of the logits."""
    results = []
    for ops in (NUMPY, NUMBA):
        x = logits.copy()
        grad = x if in_place else np.full_like(x, 7.0)
        loss, correct = ops.softmax_cross_entropy_mean_correct(
            x, target, grad, weight, ignore_index
        )
        results.append((loss, correct, grad))
    return results


def _check(results, logits, agree):
    (loss_a, correct_a, grad_a), (loss_b, correct_b, grad_b) = results
    finite = logits[np.isfinite(logits)]
    magnitude = float(np.max(np.abs(finite))) if finite.size else 1.0
    dtype = logits.dtype
    agree(np.array(loss_b).astype(dtype), np.array(loss_a).astype(dtype), N_LOSS, "loss", magnitude)
    agree(grad_b, grad_a, N_LOSS, "gradient")
    assert correct_b == pytest.approx(correct_a, rel=1e-12)


# rows on both sides of numba_exp_rows.LONG_ROW (64: longer rows into another array go one at a
# time, numba_losses.softmax_cross_entropy_long_rows)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (128, 10), (500, 37), (40, 63), (40, 64)])
def test_loss_gradient_and_count_agree_in_both_lanes(shape, dtype, rng, agree):
    logits, target = _case(rng, shape, dtype)
    results = _both(logits, target)
    _check(results, logits, agree)
    # the definition: the mean loss, its gradient and the argmax hits
    loss, correct, _ = results[0]
    expected = NUMPY.softmax_cross_entropy_mean(logits, target, np.empty_like(logits))
    assert loss == expected
    assert correct == np.count_nonzero(np.argmax(logits, axis=1) == target)


@pytest.mark.parametrize("width", [10, 100])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ignored_rows_count_in_nothing(dtype, width, rng, agree):
    logits, target = _case(rng, (64, width), dtype)
    weight = rng.uniform(0.0, 2.0, size=64)
    target[::3] = -100
    logits[3, 0] = np.nan  # an ignored row's NaN stays out of the loss
    kept = target != -100
    for w in (None, weight):
        results = _both(logits, target, w, ignore_index=-100)
        _check(results, logits, agree)
        loss, correct, grad = results[0]
        # the same as the kept rows alone, with zero gradient rows for the others
        sub = np.empty_like(logits[kept])
        w_kept = None if w is None else w[kept]
        expected = NUMPY.softmax_cross_entropy_mean_correct(logits[kept], target[kept], sub, w_kept)
        assert (loss, correct) == expected
        np.testing.assert_array_equal(grad[kept], sub)
        np.testing.assert_array_equal(grad[~kept], 0.0)


@pytest.mark.parametrize("weighted", [False, True])
def test_an_empty_or_all_ignored_batch_is_zero_in_both_lanes(weighted, rng):
    logits, target = _case(rng, (6, 4), np.float32)
    weight = np.ones(6) if weighted else None
    for x, t, w in (
        (logits[:0], target[:0], None if weight is None else weight[:0]),
        (logits, np.full(6, 2), weight),
    ):
        for loss, correct, grad in _both(x, t, w, ignore_index=2):
            assert (loss, correct) == (0.0, 0.0)
            np.testing.assert_array_equal(grad, 0.0)


NON_FINITE = {
    "all -inf": ([-np.inf, -np.inf, -np.inf], 0),
    "+inf shared": ([np.inf, np.inf, 0.0], 1),
    "+inf elsewhere": ([np.inf, 0.0, 0.0], 2),
    "NaN": ([np.nan, 0.0, 1.0], 1),
    "-inf mask": ([-np.inf, 1.0, 2.0], 2),
}


@pytest.mark.parametrize("width", [3, 100])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", list(NON_FINITE))
def test_non_finite_rows_agree_in_both_lanes(row, dtype, width, rng, agree):
    # rows of 100 go one at a time (the row's pattern repeated)
    logits, target = _case(rng, (6, width), dtype)
    values, target[2] = NON_FINITE[row]
    logits[2] = np.resize(np.array(values, dtype=dtype), width)
    with np.errstate(invalid="ignore", over="ignore"):
        _check(_both(logits, target), logits, agree)


@pytest.mark.parametrize("width", [10, 100])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_gradient_may_overwrite_the_logits_in_both_lanes(dtype, width, rng, agree):
    # rows of 10 take one path either way: the same bits. Rows of 100 go by blocks in place and
    # one at a time into another array (numba_exp_rows.LONG_ROW): two orders of the same sums
    logits, target = _case(rng, (128, width), dtype)
    target[:4] = -1
    fresh = _both(logits, target, ignore_index=-1)
    in_place = _both(logits, target, ignore_index=-1, in_place=True)
    for a, b in zip(fresh, in_place, strict=True):
        if width < 64:
            assert a[:2] == b[:2]
            np.testing.assert_array_equal(a[2], b[2])
        else:
            _check([a, b], logits, agree)


@pytest.mark.parametrize("ops", [NUMPY, NUMBA], ids=["numpy", "numba"])
def test_a_target_out_of_range_is_an_index_error_in_both_lanes(ops, rng):
    logits, target = _case(rng, (8, 5), np.float64)
    target[3] = 5
    grad = np.zeros_like(logits)
    with pytest.raises(IndexError, match=r"target must hold class indices in \[0, 5\)"):
        ops.softmax_cross_entropy_mean_correct(logits, target, grad)
    np.testing.assert_array_equal(grad, 0.0)
    target[3] = -7  # ignored: no error
    ops.softmax_cross_entropy_mean_correct(logits, target, grad, ignore_index=-7)


def test_the_same_inputs_give_bit_identical_results(rng):
    logits, target = _case(rng, (1000, 37), np.float32)
    weight = rng.uniform(0, 1, size=1000)
    target[::7] = 0
    for ops in (NUMPY, NUMBA):
        runs = [_both(logits, target, weight, ignore_index=0)[ops is NUMBA] for _ in range(2)]
        assert runs[0][:2] == runs[1][:2]
        np.testing.assert_array_equal(runs[0][2], runs[1][2])

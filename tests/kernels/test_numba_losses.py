"""The Numba lane's one-pass softmax-cross-entropy (loss, gradient, correct predictions) against
the NumPy lane: softgrad.functional's cross_entropy and cross_entropy_grad, np.argmax."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad import functional as F
from softgrad.kernels import numba_loss_rows, numba_losses, numba_softmax
from softgrad.kernels.numba_ops import NumbaOps
from softgrad.kernels.numba_threads import PARALLEL_MIN
from softgrad.kernels.numpy_ops import NumpyOps

OPS = NumbaOps()
# the NumPy side of every comparison runs on the NumPy lane, whatever the default
pytestmark = pytest.mark.usefixtures("numpy_lane")
DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1), (1, 10), (128, 10), (50, 31), (50, 32), (1000, 37)]
# roundings: exp, the row sum (accumulated in float64 here, in the dtype by NumPy: about
# log2(C) roundings), the division and the scale
N_OPS = 16


def _case(rng, shape, dtype):
    logits = (rng.standard_normal(shape) * 4).astype(dtype)
    target = rng.integers(0, shape[1], size=shape[0])
    return logits, target


def _reference(logits, target, weight=None):
    """(loss, grad, correct) from the NumPy lane: the (weighted) mean, sum(w * loss) / sum(w),
    and per-sample gradients scaled by w / sum(w), as the training loop's step."""
    w = np.ones(len(target)) if weight is None else weight
    hits = np.argmax(logits, axis=1) == target
    with np.errstate(invalid="ignore", over="ignore"):
        losses = F.cross_entropy(logits, target, reduction="none").astype(np.float64)
        grad = F.cross_entropy_grad(logits, target, reduction="none")
    grad *= (w / np.sum(w)).astype(logits.dtype)[:, None]
    return float(np.dot(w, losses) / np.sum(w)), grad, float(np.dot(w, hits))


def _check(logits, target, agree, weight=None):
    expected_loss, expected_grad, expected_correct = _reference(logits, target, weight)
    grad = np.empty_like(logits)
    loss, correct = OPS.softmax_cross_entropy_mean_correct(logits, target, grad, weight)
    mean = OPS.softmax_cross_entropy_mean(logits, target, np.empty_like(logits), weight)
    np.testing.assert_array_equal(mean, loss)  # NaN equals NaN here
    # loss_n = lse_n - logits[n, y_n] cancels: each lane's error is relative to the logits
    finite = logits[np.isfinite(logits)]
    magnitude = float(np.max(np.abs(finite))) if finite.size else 1.0
    # both in float64, computed from the logits' dtype: compare in that dtype's roundings
    actual, expected = (np.array(v).astype(logits.dtype) for v in (loss, expected_loss))
    agree(actual, expected, N_OPS, "loss", magnitude)
    agree(grad, expected_grad, N_OPS, "gradient")
    assert correct == pytest.approx(expected_correct, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_loss_gradient_and_count_match_the_numpy_lane(shape, dtype, rng, agree):
    logits, target = _case(rng, shape, dtype)
    _check(logits, target, agree)


@pytest.mark.parametrize("dtype", DTYPES)
def test_per_sample_weights_match_the_weighted_step(dtype, rng, agree):
    logits, target = _case(rng, (128, 10), dtype)
    weight = rng.uniform(0, 2, size=128)
    weight[:5] = 0.0
    _check(logits, target, agree, weight)


def test_a_zero_total_weight_gives_zero_loss_gradient_and_count(rng):
    logits, target = _case(rng, (8, 10), np.float32)
    grad = np.full_like(logits, np.nan)
    result = OPS.softmax_cross_entropy_mean_correct(logits, target, grad, np.zeros(8))
    assert result == (0.0, 0.0)
    np.testing.assert_array_equal(grad, 0.0)


ROWS = {
    "all -inf": ([-np.inf, -np.inf, -np.inf], 0),
    "+inf shared, target on one": ([np.inf, np.inf, 0.0], 1),
    "+inf elsewhere": ([np.inf, 0.0, 0.0], 2),
    "NaN first": ([np.nan, 0.0, 1.0], 1),
    "NaN after +inf": ([np.inf, -np.inf, np.nan], 0),
    "-inf mask": ([-np.inf, 1.0, 2.0], 2),
    "-inf target": ([-np.inf, 1.0, 2.0], 0),
    "huge spread": ([3e38, -3e38, 0.0], 1),
    "huge equal": ([3e38, 3e38, 3e38], 2),
    "tiny": ([-1e4, -1e4 + 1, -1e4 - 1], 0),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", list(ROWS))
def test_non_finite_rows_follow_the_numpy_lane_and_stay_in_their_row(row, dtype, rng, agree):
    # the special row among ordinary ones: its NaN/inf must not leak into the others
    logits, target = _case(rng, (6, 3), dtype)
    values, t = ROWS[row]
    logits[2], target[2] = values, t
    _check(logits, target, agree)
    grad = np.empty_like(logits)
    OPS.softmax_cross_entropy_mean_correct(logits, target, grad)
    assert np.isfinite(np.delete(grad, 2, axis=0)).all()


def test_an_empty_batch_has_loss_zero_as_the_numpy_lane():
    logits, target = np.empty((0, 10), np.float32), np.empty(0, np.intp)
    grad = np.empty_like(logits)
    assert OPS.softmax_cross_entropy_mean_correct(logits, target, grad) == (0.0, 0.0)
    assert float(F.cross_entropy(logits, target)) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_gradient_may_overwrite_the_logits(dtype, rng):
    logits, target = _case(rng, (128, 10), dtype)
    logits[3] = [np.inf, np.inf] + [0.0] * 8
    logits[4, 0] = np.nan
    fresh = np.empty_like(logits)
    expected = OPS.softmax_cross_entropy_mean_correct(logits, target, fresh)
    in_place = OPS.softmax_cross_entropy_mean_correct(logits, target, logits)
    # the loss is NaN (row 4); the count of right predictions must still be the one read
    # before the gradient overwrote the logits
    assert np.isnan(in_place[0]) and np.isnan(expected[0])
    assert in_place[1] == expected[1] > 0
    np.testing.assert_array_equal(logits, fresh)


def test_long_rows_into_another_array_go_one_at_a_time_and_in_place_keep_the_blocks(rng):
    logits, target = _case(rng, (50, 100), np.float32)
    logits[3] = np.resize(np.array([np.inf, 0.0], dtype=np.float32), 100)  # a shifted row
    no_weights = np.empty(0)
    by_rows, by_blocks = np.empty_like(logits), logits.copy()
    top = np.argmax(logits, axis=1)
    rows = numba_losses.softmax_cross_entropy_long_rows(
        logits, target, no_weights, 0, False, by_rows, top
    )
    blocks = numba_losses.softmax_cross_entropy(by_blocks, target, no_weights, 0, False, by_blocks)
    apart, in_place = np.empty_like(logits), logits.copy()
    assert OPS.softmax_cross_entropy_mean_correct(logits, target, apart) == rows
    assert OPS.softmax_cross_entropy_mean_correct(in_place, target, in_place) == blocks
    np.testing.assert_array_equal(apart, by_rows)
    np.testing.assert_array_equal(in_place, by_blocks)


@pytest.mark.parametrize("bad", [-1, 10, 1_000_000])
def test_a_target_out_of_range_is_an_index_error_before_anything_is_written(bad, rng):
    logits, target = _case(rng, (8, 10), np.float32)
    target[5] = bad
    grad = np.zeros_like(logits)
    with pytest.raises(IndexError, match=r"target must hold class indices in \[0, 10\)"):
        OPS.softmax_cross_entropy_mean(logits, target, grad)
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("target_dtype", [np.int32, np.int64, np.uint8])
def test_target_integer_types(target_dtype, rng, agree):
    logits, target = _case(rng, (32, 10), np.float32)
    _check(logits, target.astype(target_dtype), agree)


def test_the_same_inputs_give_bit_identical_results(rng):
    logits, target = _case(rng, (1000, 37), np.float32)
    weight = rng.uniform(0, 1, size=1000)
    grads = [np.empty_like(logits) for _ in range(2)]
    results = [OPS.softmax_cross_entropy_mean_correct(logits, target, g, weight) for g in grads]
    assert results[0] == results[1]
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("width", [3, 100])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", list(ROWS))
def test_the_per_row_pair_matches_the_numpy_lane(row, dtype, width, rng, agree):
    # the layer's API: per-row losses keeping exp(logits - m) and its row sums, then the
    # gradient from them with a per-row or a common scale; rows of 3 go by blocks, rows of
    # 100 one at a time (numba_exp_rows.LONG_ROW), the limit row's pattern repeated
    logits, target = _case(rng, (6, width), dtype)
    logits[2], target[2] = np.resize(np.array(ROWS[row][0], dtype=dtype), width), ROWS[row][1]
    e, total, loss = np.empty_like(logits), np.empty(6, dtype), np.empty(6)
    offsets = np.empty(6, np.intp)
    assert numba_loss_rows.softmax_cross_entropy_rows(logits, target, e, total, loss, offsets)
    np.testing.assert_array_equal(offsets, np.arange(6) * width + target)
    with np.errstate(invalid="ignore", over="ignore"):
        expected_loss = F.cross_entropy(logits, target, reduction="none")
        expected_grad = F.cross_entropy_grad(logits, target, reduction="none")
    finite = logits[np.isfinite(logits)]
    magnitude = float(np.max(np.abs(finite)))
    agree(loss.astype(dtype), expected_loss, N_OPS, "per-row loss", magnitude)
    scale = rng.uniform(0.1, 1.0, size=6).astype(dtype)
    outs = []
    for r, expected in (
        (scale[:1], expected_grad * scale[0]),
        (scale, expected_grad * scale[:, None]),
    ):
        outs.append(np.empty_like(e))
        numba_loss_rows.softmax_cross_entropy_rows_grad(e, total, offsets, r, outs[-1])
        agree(outs[-1], expected, N_OPS, "gradient")
    # out may be e
    numba_loss_rows.softmax_cross_entropy_rows_grad(e, total, offsets, scale, e)
    np.testing.assert_array_equal(e, outs[-1])


def test_the_per_row_pair_checks_the_targets(rng):
    logits, target = _case(rng, (4, 3), np.float64)
    target[1] = 3
    e, total, loss = np.empty_like(logits), np.empty(4), np.empty(4)
    offsets = np.empty(4, np.intp)
    assert not numba_loss_rows.softmax_cross_entropy_rows(logits, target, e, total, loss, offsets)


# ---- softmax_rows: the lane's softmax (every axis and mask reaches it as rows) ----
NUMPY_OPS = NumpyOps()
# rows on both sides of numba_exp_rows.SHORT_ROW (32: shorter rows are summed in order, inline)
# and of LONG_ROW (64: longer rows into another array go to the row-at-a-time kernels)
SOFTMAX_SHAPES = [
    (1, 1),
    (1, 10),
    (128, 10),
    (50, 31),
    (50, 32),
    (1000, 37),
    (40, 63),
    (40, 64),
    (3, 5000),
    (700, 3),
]
# roundings: the exp, the row sum (in float64 here, in the dtype by NumPy), the scale
SOFTMAX_N_OPS = 8


def _pair(routine, *args):
    """(Numba lane, NumPy lane) of ``routine`` (a row hook of the seam) on the rows of the
    array arguments, its output written into fresh arrays of their shape."""
    actual, expected = np.empty_like(args[0]), np.empty_like(args[0])
    getattr(OPS, routine)(args[0], actual, *args[1:])
    with np.errstate(invalid="ignore"):
        getattr(NUMPY_OPS, routine)(args[0], expected, *args[1:])
    return actual, expected


def _softmax_pair(x, scale=1.0):
    """(Numba lane, NumPy lane) of ``scale * softmax`` over the rows of x."""
    return _pair("softmax_rows", x, scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_rows_match_the_numpy_lane(shape, dtype, rng, agree):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    actual, expected = _softmax_pair(x)
    agree(actual, expected, SOFTMAX_N_OPS, "softmax")
    agree(actual.sum(axis=1), np.ones(shape[0], dtype), shape[1] + SOFTMAX_N_OPS, "row sums")


@pytest.mark.parametrize("routine", ["softmax_rows", "log_softmax_rows"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", list(ROWS))
@pytest.mark.parametrize("width", [3, 100])
def test_row_limits_follow_the_numpy_lane_and_stay_in_their_row(
    width, row, dtype, routine, rng, agree
):
    # a row that needs the shift (or has no softmax): rows of 3 go by blocks, and this one is
    # in the first block (682 rows of 3), the second block's rows take the unshifted exps;
    # rows of 100 go one at a time (numba_exp_rows.LONG_ROW), the row's pattern repeated
    x = (rng.standard_normal((700, width)) * 4).astype(dtype)
    x[350] = np.resize(np.array(ROWS[row][0], dtype=dtype), width)
    actual, expected = _pair(routine, x)
    # log_softmax = x - lse cancels: its error is relative to the largest finite logit
    magnitude = float(np.max(np.abs(x[np.isfinite(x)]))) if routine == "log_softmax_rows" else 1.0
    agree(actual, expected, SOFTMAX_N_OPS, routine, magnitude)
    assert np.isfinite(np.delete(actual, 350, axis=0)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_scale_the_result(dtype, rng, agree):
    x = (rng.standard_normal((64, 10)) * 4).astype(dtype)
    actual, expected = _softmax_pair(x, scale=0.25)
    agree(actual, expected, SOFTMAX_N_OPS, "0.25 * softmax")


@pytest.mark.parametrize("routine", ["softmax_rows", "log_softmax_rows"])
def test_long_rows_in_place_keep_the_blocks_and_into_another_array_go_one_at_a_time(routine, rng):
    # an in-place call must read a block of x before writing it; the row kernels write a row's
    # exps into out first, so only a call into another array goes to them
    x = (rng.standard_normal((50, 100)) * 4).astype(np.float32)
    x[3] = np.resize(np.array([np.inf, 0.0], dtype=np.float32), 100)  # a shifted row too
    args = (1.0,) if routine == "softmax_rows" else ()
    blocks, rows = np.empty_like(x), np.empty_like(x)
    getattr(numba_softmax, routine)(x, blocks, *args, 1)
    long_kernel = getattr(numba_softmax, routine.replace("_rows", "_long_rows"))
    long_kernel(x, rows, *args)
    apart, in_place = np.empty_like(x), x.copy()
    getattr(OPS, routine)(x, apart, *args)
    getattr(OPS, routine)(in_place, in_place, *args)
    np.testing.assert_array_equal(apart, rows)
    np.testing.assert_array_equal(in_place, blocks)


def test_softmax_rows_may_write_over_their_input(rng):
    x = (rng.standard_normal((300, 10)) * 4).astype(np.float32)
    x[7] = [np.inf] * 2 + [0.0] * 8  # a block on the shifted path too
    expected = np.empty_like(x)
    numba_softmax.softmax_rows(x, expected, 1.0, 1)
    numba_softmax.softmax_rows(x, x, 1.0, 1)
    np.testing.assert_array_equal(x, expected)


# ---- log_softmax_rows and softmax_vjp_rows: the lane's log_softmax and softmax VJP/JVP ----
def _log_softmax_pair(x):
    """(Numba lane, NumPy lane) of log_softmax over the rows of x."""
    return _pair("log_softmax_rows", x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_log_softmax_rows_match_the_numpy_lane(shape, dtype, rng, agree):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    actual, expected = _log_softmax_pair(x)
    # log_softmax = x - lse cancels: each lane's error is relative to the logits
    agree(actual, expected, SOFTMAX_N_OPS, "log_softmax", float(np.max(np.abs(x))))


def test_log_softmax_rows_may_write_over_their_input(rng):
    x = (rng.standard_normal((300, 10)) * 4).astype(np.float32)
    x[7] = [np.inf] * 2 + [0.0] * 8
    x[8] = [3e38, -3e38] + [0.0] * 8
    expected = np.empty_like(x)
    numba_softmax.log_softmax_rows(x, expected, 1)
    numba_softmax.log_softmax_rows(x, x, 1)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_vjp_rows_match_the_numpy_lane(shape, dtype, rng, agree):
    s = F.softmax((rng.standard_normal(shape) * 4).astype(dtype))
    g = rng.standard_normal(shape).astype(dtype)
    s[0, 0] = 0.0  # a masked entry: its gradient is exactly 0
    actual, expected = np.empty_like(s), np.empty_like(s)
    OPS.softmax_vjp_rows(s, g, actual)
    NUMPY_OPS.softmax_vjp_rows(s, g, expected)
    # the row's dot product sums C terms of size |g|: a difference cancels against it
    agree(actual, expected, SOFTMAX_N_OPS + shape[1], "softmax_vjp", float(np.max(np.abs(g))))
    assert actual[0, 0] == 0.0
    # out may be g, whatever the split among threads
    numba_softmax.softmax_vjp_rows(s, g, g)
    np.testing.assert_array_equal(g, actual)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_vjp_rows_take_infinite_cotangents_as_the_numpy_lane_without_a_warning(dtype):
    # inf * 0 at a masked entry is NaN in the row's dot product, and inf - inf too: both
    # lanes give the same NaN and inf, and neither warns (the suite turns warnings to errors)
    s = np.array([[0.5, 0.5, 0.0], [0.25, 0.75, 0.0], [0.5, 0.5, 0.0]], dtype)
    g = np.array([[1.0, 0.0, np.inf], [np.inf, 0.0, 0.0], [np.nan, 0.0, 0.0]], dtype)
    actual, expected = np.empty_like(s), np.empty_like(s)
    OPS.softmax_vjp_rows(s, g, actual)
    NUMPY_OPS.softmax_vjp_rows(s, g, expected)
    np.testing.assert_array_equal(actual, expected)
    assert np.isnan(actual[0]).all() and np.isnan(actual[2]).all()
    # 0.25 * (inf - inf) is NaN where the cotangent is inf, 0.75 * (0 - inf) = -inf elsewhere
    assert np.isnan(actual[1, 0]) and actual[1, 1] == -np.inf and np.isnan(actual[1, 2])


def test_the_row_kernels_on_threads_give_the_same_bits_for_any_split(rng, agree):
    # from PARALLEL_MIN elements the blocks (rows for the VJP and the long-row kernels) are
    # shared among the threads: any number of shares, and the calling-thread twin, give the
    # same bits
    n_rows = PARALLEL_MIN // 1000 + 7
    x = (rng.standard_normal((n_rows, 1000)) * 4).astype(np.float32)
    g = rng.standard_normal((n_rows, 1000)).astype(np.float32)
    s = np.empty_like(x)
    numba_softmax.softmax_rows(x, s, 1.0, 1)
    softmax, log_softmax = numba_softmax.softmax_rows, numba_softmax.log_softmax_rows
    vjp = numba_softmax.softmax_vjp_rows
    kernels = (
        [lambda out, k=k: softmax(x, out, 1.0, k) for k in (1, 2, 3)]
        + [lambda out: softmax.serial_dispatcher(x, out, 1.0, 2)],
        [lambda out, k=k: log_softmax(x, out, k) for k in (1, 2, 3)]
        + [lambda out: log_softmax.serial_dispatcher(x, out, 2)],
        [lambda out: vjp(s, g, out), lambda out: vjp.serial_dispatcher(s, g, out)],
        [
            lambda out: numba_softmax.softmax_long_rows(x, out, 1.0),
            lambda out: numba_softmax.softmax_long_rows.serial_dispatcher(x, out, 1.0),
        ],
        [
            lambda out: numba_softmax.log_softmax_long_rows(x, out),
            lambda out: numba_softmax.log_softmax_long_rows.serial_dispatcher(x, out),
        ],
    )
    firsts = []
    for splits in kernels:
        results = []
        for kernel in splits:
            out = np.empty_like(x)
            kernel(out)
            results.append(out)
        for result in results[1:]:
            np.testing.assert_array_equal(result, results[0])
        firsts.append(results[0])
    in_place = g.copy()
    vjp(s, in_place, in_place)  # the threaded in-place loop
    np.testing.assert_array_equal(in_place, firsts[2])
    # the row kernels on the threads against the blocks: one decision per row instead of per
    # block, the same formulas
    agree(firsts[3], firsts[0], SOFTMAX_N_OPS, "softmax, rows against blocks")
    agree(firsts[4], firsts[1], SOFTMAX_N_OPS, "log_softmax, rows against blocks", 20.0)
    _, expected = _softmax_pair(x)
    agree(s, expected, SOFTMAX_N_OPS, "softmax on threads")


@pytest.mark.parametrize("routine", ["softmax_rows", "log_softmax_rows", "softmax_vjp_rows"])
def test_an_output_that_partly_overlaps_an_input_gets_the_numpy_lanes_result(routine, rng, agree):
    # the kernels read a block before writing it, which holds for out == x, not for an out
    # shifted by one row inside the same buffer: that call goes to the NumPy lane
    memory = (rng.standard_normal(2010) * 3).astype(np.float32)
    x = memory[:2000].reshape(200, 10)
    s = F.softmax(rng.standard_normal((200, 10))).astype(np.float32)
    args = (s, x) if routine == "softmax_vjp_rows" else (x,)
    expected = np.empty_like(x)
    getattr(NUMPY_OPS, routine)(*(a.copy() for a in args), expected)
    getattr(OPS, routine)(*args, memory[10:].reshape(200, 10))
    agree(memory[10:].reshape(200, 10), expected, SOFTMAX_N_OPS + 10, routine, 12.0)


@pytest.mark.parametrize("routine", ["softmax_rows", "log_softmax_rows", "softmax_vjp_rows"])
def test_the_row_routines_take_an_empty_batch(routine):
    x = np.empty((0, 10), np.float32)
    args = (x, x) if routine == "softmax_vjp_rows" else (x,)
    out = np.empty_like(x)
    getattr(OPS, routine)(*args, out)
    assert out.shape == (0, 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_vjp_rows_keep_a_non_finite_cotangent_in_its_row(dtype, rng, agree):
    s = F.softmax((rng.standard_normal((6, 4)) * 4).astype(dtype))
    g = rng.standard_normal((6, 4)).astype(dtype)
    g[1, 2], g[3, 0] = np.nan, np.inf
    actual, expected = np.empty_like(s), np.empty_like(s)
    with np.errstate(invalid="ignore"):
        OPS.softmax_vjp_rows(s, g, actual)
        NUMPY_OPS.softmax_vjp_rows(s, g, expected)
    agree(actual, expected, SOFTMAX_N_OPS + 4, "softmax_vjp", 4.0)
    assert np.isfinite(np.delete(actual, [1, 3], axis=0)).all()


def test_a_first_softmax_compiles_the_softmax_kernel_alone(first_compiles):
    # softmax and log_softmax are two kernels, each one copy of its block routine (a first
    # softmax on an empty cache compiled for 8 s with both in one kernel); small calls compile
    # the calling-thread twin alone
    compiled = first_compiles(
        "import numpy as np\n"
        "from softgrad import functional as F\n"
        "import softgrad.kernels.numba_ops\n"
        "F.softmax(np.ones((4, 3), np.float32))\n"
    )
    assert "softmax_rows_serial" in compiled
    assert not compiled & {"softmax_rows", "log_softmax_rows", "log_softmax_rows_serial"}

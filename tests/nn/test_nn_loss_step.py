"""CrossEntropyLoss.forward_backward: the training step's loss, gradient and hits from one call,
equal to forward, backward and an argmax (to a few roundings of the dtype) in both lanes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss
from softgrad.nn.loss import StepLoss

# roundings between the one-pass kernel and the layer's two passes (exp, the row sum, the scale)
N_OPS = 16


@pytest.fixture
def lane(kernel_lane):
    """Each test once per kernel lane (tests/conftest.py's kernel_lane)."""
    return kernel_lane


def _separate(loss, logits, target, weight=None):
    """forward, backward and the argmax, as the training step ran them before (an ignored
    target is never a hit, as in the fused kernel)."""
    hits = np.argmax(logits, axis=-1) == target
    if loss.ignore_index is not None:
        hits &= target != loss.ignore_index
    if weight is None:
        value = loss.forward(logits, target)
        return value, loss.backward(), float(np.count_nonzero(hits))
    per_sample = CrossEntropyLoss(reduction="none", ignore_index=loss.ignore_index)
    per_sample.weight, per_sample.label_smoothing = loss.weight, loss.label_smoothing
    losses = per_sample.forward(logits, target)
    # the mean's divisor, weighted: sum_n w_n cw[y_n] over the targets not ignored
    counts = np.ones(len(target)) if loss.weight is None else loss.weight[target]
    if loss.ignore_index is not None:
        counts = counts * (target != loss.ignore_index)
    total = float(np.dot(weight.astype(np.float64), counts))
    grad = per_sample.backward(weight / np.asarray(total, dtype=weight.dtype))
    return float(np.dot(weight, losses)) / total, grad, float(np.dot(weight, hits))


def _agree(step, expected, dtype):
    eps = float(np.finfo(dtype).eps)
    loss, grad, correct = expected
    assert isinstance(step, StepLoss)
    assert step.loss == pytest.approx(loss, rel=N_OPS * eps, abs=N_OPS * eps)
    assert step.grad.dtype == grad.dtype == dtype
    np.testing.assert_allclose(step.grad, grad, rtol=0, atol=N_OPS * eps)
    assert step.correct == pytest.approx(correct, rel=N_OPS * eps)  # a weighted sum


OPTIONS = {
    "plain": {},
    "ignore_index": {"ignore_index": 1},
    "class weights": {"weight": [1.0, 2.0, 0.5, 1.0, 3.0]},
    "label smoothing": {"label_smoothing": 0.1},
    "sum": {"reduction": "sum"},
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", list(OPTIONS))
def test_forward_backward_equals_forward_backward_and_argmax(options, dtype, lane, rng):
    logits = (rng.standard_normal((40, 5)) * 3).astype(dtype)
    target = rng.integers(0, 5, size=40)
    loss = CrossEntropyLoss(**OPTIONS[options])
    step = loss.forward_backward(logits, target)
    _agree(step, _separate(loss, logits, target), dtype)


@pytest.mark.parametrize("options", ["plain", "class weights", "ignore_index"])
def test_sample_weights_give_the_weighted_mean(options, lane, rng):
    logits = (rng.standard_normal((40, 5)) * 3).astype(np.float32)
    target = rng.integers(0, 5, size=40)
    weight = rng.uniform(0.0, 2.0, size=40).astype(np.float32)
    loss = CrossEntropyLoss(**OPTIONS[options])
    step = loss.forward_backward(logits, target, weight)
    _agree(step, _separate(loss, logits, target, weight), np.float32)


def test_a_zero_weight_batch_has_no_gradient(lane, rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    step = CrossEntropyLoss().forward_backward(logits, np.array([0, 1, 2, 0]), np.zeros(4))
    assert step.loss == 0.0 and step.correct == 0.0
    assert step.grad is None or not step.grad.any()


def test_the_logits_are_not_written(lane, rng):
    logits = rng.standard_normal((16, 4)).astype(np.float32)
    before = logits.copy()
    CrossEntropyLoss().forward_backward(logits, rng.integers(0, 4, size=16))
    np.testing.assert_array_equal(logits, before)


def test_a_bad_target_is_the_layers_error(lane, rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    # named for the layer the user called, not for the function it shares its checks with
    for call in (CrossEntropyLoss().forward_backward, CrossEntropyLoss().forward):
        with pytest.raises(
            ValueError, match=r"^CrossEntropyLoss: target must be class indices in \[0, 2\]"
        ):
            call(logits, np.array([0, 1, 3, 0]))


def test_other_layouts_take_the_separate_passes(lane, rng):
    # class axis first, and probability targets: forward + backward + argmax, same numbers
    logits = rng.standard_normal((3, 8)).astype(np.float64)
    target = rng.integers(0, 3, size=8)
    loss = CrossEntropyLoss(axis=0)
    step = loss.forward_backward(logits, target)
    value, grad = loss.forward(logits, target), loss.backward()
    assert step.loss == value and np.array_equal(step.grad, grad)
    assert step.correct == np.count_nonzero(np.argmax(logits, axis=0) == target)
    probs = rng.dirichlet(np.ones(3), size=8)
    step = CrossEntropyLoss().forward_backward(logits.T.copy(), probs)
    assert step.correct == np.count_nonzero(np.argmax(logits.T, 1) == np.argmax(probs, 1))


@pytest.mark.parametrize(
    ("weight", "error", "words"),
    [
        (np.ones(2), ValueError, "must have shape (6,), one weight per sample; got shape (2,)"),
        (np.ones((6, 1)), ValueError, "must have shape (6,)"),
        (np.array([1, np.nan, 1, 1, 1, 1]), ValueError, "must be finite and >= 0"),
        (np.array([1, np.inf, 1, 1, 1, 1]), ValueError, "must be finite and >= 0"),
        (np.array([1, -1.0, 1, 1, 1, 1]), ValueError, "from -1.0 to 1.0"),
        (np.array(["1"] * 6), TypeError, "must hold real numbers; got dtype <U1"),
    ],
)
def test_bad_sample_weights_are_refused_in_both_lanes(weight, error, words, lane, rng):
    # the one-kernel path trusted them: a short array was read past its end, an inf weight
    # left the gradient unwritten
    logits, target = rng.standard_normal((6, 4)), np.array([0, 1, 2, 3, 0, 1])
    with pytest.raises(error, match=r"^CrossEntropyLoss\.forward_backward: sample_weight") as info:
        CrossEntropyLoss().forward_backward(logits, target, sample_weight=weight)
    assert words in str(info.value)


def test_sample_weights_as_a_list_or_integers_weigh_as_floats(lane, rng):
    logits, target = rng.standard_normal((4, 3)), np.array([0, 1, 2, 0])
    expected = CrossEntropyLoss().forward_backward(logits, target, np.array([1.0, 2, 0, 1]))
    for weight in ([1, 2, 0, 1], np.array([1, 2, 0, 1], np.int64)):
        step = CrossEntropyLoss().forward_backward(logits, target, weight)
        assert step.loss == expected.loss and step.correct == expected.correct
        np.testing.assert_array_equal(step.grad, expected.grad)


@pytest.mark.parametrize("n_classes", [2, 10, 1000])
def test_float32_rows_whose_exps_sum_past_float32s_range_keep_their_gradient(n_classes, lane):
    # each exp(88.5) is finite and the sum of a row is not (or comes near float32's limit):
    # the Numba lane stored an infinite sum (a gradient of -onehot alone) or scaled by a
    # subnormal 1 / S
    x = np.full((4, n_classes), 88.5, np.float32)
    target = np.array([0, 1, 0, 1])
    step = CrossEntropyLoss().forward_backward(x, target)
    expected = (np.full((4, n_classes), 1 / n_classes) - np.eye(n_classes)[target]) / 4
    tol = 4 * np.finfo(np.float32).eps
    np.testing.assert_allclose(step.grad, expected, rtol=tol, atol=tol / 4)
    assert step.loss == pytest.approx(np.log(n_classes), rel=1e-6)


@pytest.mark.parametrize(("weighted", "ignore_index"), [(False, None), (False, 2), (True, None)])
def test_a_loss_cap_reports_each_samples_loss_at_most_the_cap(weighted, ignore_index, lane, rng):
    # scikit-learn's MLPClassifier reports -log(clip(p, eps, 1 - eps)): at most -log(eps)
    logits = rng.standard_normal((8, 5)) * 3
    logits[[1, 6], 0] = 60.0  # rows 1 and 6 have losses near 60 unless their target is 0
    target = np.array([0, 1, 2, 3, 4, 1, 2, 3])
    weight = rng.uniform(0.5, 2.0, 8) if weighted else None
    cap = 36.04
    capped = CrossEntropyLoss(ignore_index=ignore_index, max_sample_loss=cap)
    plain = CrossEntropyLoss(ignore_index=ignore_index, reduction="none")
    losses = np.minimum(plain.forward(logits, target), cap)
    valid = np.ones(8, bool) if ignore_index is None else target != ignore_index
    w = valid.astype(float) if weight is None else weight * valid
    expected = float(np.sum(w * losses) / np.sum(w))
    assert losses.max() == cap  # the cap is reached
    step = capped.forward_backward(logits, target, weight)
    assert step.loss == pytest.approx(expected, rel=1e-12)
    uncapped = CrossEntropyLoss(ignore_index=ignore_index).forward_backward(logits, target, weight)
    np.testing.assert_array_equal(step.grad, uncapped.grad)  # the gradient is not changed
    if weight is None:
        assert capped.forward(logits, target) == pytest.approx(expected, rel=1e-12)


def test_a_loss_cap_no_sample_reaches_changes_no_bit(lane, rng):
    logits, target = rng.standard_normal((16, 10)).astype(np.float32), rng.integers(0, 10, 16)
    step = CrossEntropyLoss(max_sample_loss=15.9).forward_backward(logits, target)
    plain = CrossEntropyLoss().forward_backward(logits, target)
    assert step.loss == plain.loss and step.correct == plain.correct
    np.testing.assert_array_equal(step.grad, plain.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_just_past_the_loss_cap_are_found(dtype, lane):
    # rows whose losses are 20.5 and 19.5 against a cap of 20: the first is capped, the
    # second is not (the unweighted check reads the gradient's target entries)
    logits = np.zeros((4, 3), dtype)
    logits[0, 1] = logits[0, 2] = 20.5 + np.log(0.5)  # loss of target 0 about 20.5
    logits[1, 1] = logits[1, 2] = 19.5 + np.log(0.5)  # about 19.5
    target = np.array([0, 0, 1, 2])
    per_sample = CrossEntropyLoss(reduction="none").forward(logits, target).astype(np.float64)
    assert per_sample[0] > 20 > per_sample[1] > 19
    step = CrossEntropyLoss(max_sample_loss=20.0).forward_backward(logits, target)
    expected = np.mean(np.minimum(per_sample, 20.0))
    assert step.loss == pytest.approx(expected, rel=4 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("options", [{"label_smoothing": 1e-12}, {"weight": [1.0] * 5}])
def test_an_ignored_target_is_never_a_hit_on_either_route(options, lane, rng):
    # the fused kernel left ignored samples out of correct, the separate passes (taken for
    # label smoothing or class weights) counted them: fit's train_acc hung on the route
    logits = (rng.standard_normal((40, 5)) * 3).astype(np.float32)
    target = np.argmax(logits, axis=1)  # every prediction right, ignored or not
    ignored = int(np.count_nonzero(target == 1))
    assert ignored > 0
    fused = CrossEntropyLoss(ignore_index=1).forward_backward(logits, target)
    separate = CrossEntropyLoss(ignore_index=1, **options).forward_backward(logits, target)
    assert fused.correct == separate.correct == 40 - ignored


@pytest.mark.parametrize(
    "options",
    [{}, {"label_smoothing": 0.1}, {"weight": [1.0, 2.0, 1.0]}, {"ignore_index": -100},
     {"reduction": "sum"}, {"reduction": "none"}],
    ids=["plain", "smoothing", "class weights", "ignore_index", "sum", "none"],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sample_of_weight_zero_takes_no_part_whatever_its_loss(lane, options, dtype):
    # its loss is inf (a -inf logit at its target): 0 * inf made the batch's loss NaN, with a
    # NumPy warning on one lane only (an error under -W error), while its gradient was 0
    logits = np.array([[-np.inf, 0.0, 1.0], [0.0, 1.0, 2.0], [2.0, -1.0, 0.5]], dtype)
    target = np.array([0, 2, 1])
    weight = np.array([0.0, 1.0, 3.0], dtype)
    got = CrossEntropyLoss(**options).forward_backward(logits, target, weight)
    kept = CrossEntropyLoss(**options).forward_backward(logits[1:], target[1:], weight[1:])
    tol = N_OPS * float(np.finfo(dtype).eps)
    if options.get("reduction") == "none":
        assert got.loss[0] == 0
        np.testing.assert_allclose(got.loss[1:], kept.loss, rtol=tol)
    else:
        assert got.loss == pytest.approx(kept.loss, rel=tol)
    assert np.all(got.grad[0] == 0)
    np.testing.assert_allclose(got.grad[1:], kept.grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_float64_mean_of_a_large_batch_is_forwards_to_a_few_roundings(lane, seed):
    # the Numba kernel summed the row losses in one running float64 sum: 24 and 88 roundings
    # off forward's pairwise mean at 100,000 rows (seeds 0, 1), 228 at a million
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((100_000, 10)) * 3
    y = rng.integers(0, 10, 100_000)
    fused = CrossEntropyLoss().forward_backward(x, y).loss
    separate = CrossEntropyLoss().forward(x, y)
    assert abs(fused - separate) <= 4 * np.finfo(np.float64).eps * separate


@pytest.mark.parametrize("seed", [0, 2])
def test_the_float64_weighted_mean_of_a_large_batch_keeps_a_few_roundings(lane, seed):
    # the Numba kernel's sum of the sample weights was one running sum too: 15 and 39 roundings
    # of the weighted mean at 100,000 rows (seeds 0, 2) were that sum's
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((100_000, 10)) * 3
    y = rng.integers(0, 10, 100_000)
    weight = rng.uniform(0.0, 5.0, 100_000)
    fused = CrossEntropyLoss().forward_backward(x, y, weight).loss
    rows = CrossEntropyLoss(reduction="none").forward(x, y)
    exact = math.fsum(weight * rows) / math.fsum(weight)  # products within a rounding each
    assert abs(fused - exact) <= 4 * np.finfo(np.float64).eps * exact

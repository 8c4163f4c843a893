"""The weighted mean's divisor: with sample weights w, a loss's 'mean' divides sum_n w_n l_n by
sum_n w_n cw[y_n] over the targets it does not ignore (cw its class weights, 1 without them;
l_n the per-sample losses, class weights applied). That is PyTorch's divisor for w = 1 and
scikit-learn's sum(w) without class weights or ignore_index, so unit weights are no weights and
an integer weight is that many copies of its sample (scikit-learn's
check_sample_weight_equivalence), for every option of the loss. It divided by sum(w) alone."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, NLLLoss
from softgrad.nn.loss import weighted_mean_step
from softgrad.training.data import mean_divisor

# roundings between two orders of the same sums (the one-pass kernel or forward then backward,
# a weighted or a plain sum), as test_nn_loss_step.py counts them
N_OPS = 16
CLASS_WEIGHTS = [1.0, 2.0, 0.5, 1.0, 3.0]
OPTIONS = {
    "class weights": {"weight": CLASS_WEIGHTS},
    "ignore_index": {"ignore_index": 1},
    "class weights and ignore_index": {"weight": CLASS_WEIGHTS, "ignore_index": 1},
    "label smoothing": {"label_smoothing": 0.1},
    "smoothing and class weights": {"label_smoothing": 0.1, "weight": CLASS_WEIGHTS},
    "every option": {"label_smoothing": 0.2, "weight": CLASS_WEIGHTS, "ignore_index": 3},
    "a class weight of 0": {"weight": [1.0, 0.0, 2.0, 1.0, 1.0]},
    "ignore_index outside the classes": {"weight": CLASS_WEIGHTS, "ignore_index": -100},
}


@pytest.fixture
def lane(kernel_lane):
    """Each test once per kernel lane (tests/conftest.py's kernel_lane)."""
    return kernel_lane


def _batch(rng, dtype, ignore_index=None, n=40):
    logits = (rng.standard_normal((n, 5)) * 3).astype(dtype)
    target = rng.integers(0, 5, size=n)
    if ignore_index is not None and ignore_index < 0:
        target[::4] = ignore_index
    return logits, target


def _close(actual, expected, dtype, what):
    tol = N_OPS * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", list(OPTIONS))
def test_unit_sample_weights_give_the_loss_and_gradient_of_no_weights(options, dtype, lane, rng):
    loss = CrossEntropyLoss(**OPTIONS[options])
    logits, target = _batch(rng, dtype, loss.ignore_index)
    plain = loss.forward_backward(logits, target)
    unit = loss.forward_backward(logits, target, np.ones(len(target), dtype))
    _close(unit.loss, plain.loss, dtype, "loss")
    _close(unit.grad, plain.grad, dtype, "gradient")
    assert unit.correct == plain.correct


@pytest.mark.parametrize("options", list(OPTIONS))
def test_integer_weights_are_repeated_rows(options, lane, rng):
    loss = CrossEntropyLoss(**OPTIONS[options])
    logits, target = _batch(rng, np.float64, loss.ignore_index)
    counts = rng.integers(0, 4, size=len(target))  # 0 drops the sample
    weighted = loss.forward_backward(logits, target, counts.astype(np.float64))
    rows = np.repeat(np.arange(len(target)), counts)
    repeated = loss.forward_backward(logits[rows], target[rows])
    _close(weighted.loss, repeated.loss, np.float64, "loss")
    # each sample's gradient is the sum of its copies' (a dropped sample's is 0)
    summed = np.zeros_like(logits)
    np.add.at(summed, rows, repeated.grad)
    _close(weighted.grad, summed, np.float64, "gradient summed over the copies")
    assert weighted.correct == repeated.correct


@pytest.mark.parametrize("options", ["class weights and ignore_index", "label smoothing"])
def test_reduction_sum_weighs_its_sum(options, lane, rng):
    # "sum" with sample weights: sum_n w_n l_n and its gradient, so unit weights are the
    # loss's own sum and integer weights repeated rows (it took the weighted mean: a gradient
    # N times smaller with unit weights)
    loss = CrossEntropyLoss(reduction="sum", **OPTIONS[options])
    logits, target = _batch(rng, np.float64)
    plain = loss.forward_backward(logits, target)
    unit = loss.forward_backward(logits, target, np.ones(len(target)))
    _close(unit.loss, plain.loss, np.float64, "loss")
    _close(unit.grad, plain.grad, np.float64, "gradient")
    counts = rng.integers(0, 4, size=len(target))
    rows = np.repeat(np.arange(len(target)), counts)
    weighted = loss.forward_backward(logits, target, counts.astype(np.float64))
    repeated = loss.forward_backward(logits[rows], target[rows])
    summed = np.zeros_like(logits)
    np.add.at(summed, rows, repeated.grad)
    _close(weighted.loss, repeated.loss, np.float64, "loss of repeated rows")
    _close(weighted.grad, summed, np.float64, "gradient summed over the copies")


@pytest.mark.parametrize("options", ["class weights", "class weights and ignore_index"])
def test_logits_with_the_classes_in_the_middle_weigh_each_position(options, lane, rng):
    # (N, C, T) logits, class axis 1: one weight per (n, t), as forward_backward documents;
    # the weighted sum took np.dot of two (N, T) arrays, a ValueError
    loss = CrossEntropyLoss(axis=1, **OPTIONS[options])
    logits = rng.standard_normal((3, 5, 4))
    target = rng.integers(0, 5, size=(3, 4))
    plain = loss.forward_backward(logits, target)
    unit = loss.forward_backward(logits, target, np.ones((3, 4)))
    _close(unit.loss, plain.loss, np.float64, "loss")
    _close(unit.grad, plain.grad, np.float64, "gradient")


def test_probability_targets_count_one_each_times_their_weight(lane, rng):
    # PyTorch's mean over probability targets divides by N whatever the class weights: the
    # weighted mean by sum(w), so unit weights are still no weights
    loss = CrossEntropyLoss(weight=CLASS_WEIGHTS, label_smoothing=0.1)
    logits = rng.standard_normal((12, 5))
    probs = rng.dirichlet(np.ones(5), size=12)
    plain = loss.forward_backward(logits, probs)
    w = rng.uniform(0.5, 2.0, size=12)
    unit = loss.forward_backward(logits, probs, np.ones(12))
    weighted = loss.forward_backward(logits, probs, w)
    per_sample = CrossEntropyLoss(weight=CLASS_WEIGHTS, label_smoothing=0.1, reduction="none")
    _close(unit.loss, plain.loss, np.float64, "loss")
    _close(unit.grad, plain.grad, np.float64, "gradient")
    _close(weighted.loss, np.dot(w, per_sample.forward(logits, probs)) / w.sum(), np.float64, "")
    assert mean_divisor(loss, probs, w) == pytest.approx(w.sum(), rel=1e-15)


def test_the_divisor_by_hand(lane):
    # class weights cw = [1, 2, 0.5], class 2 ignored, sample weights w = [2, 1, 3, 0.5]:
    # the divisor is 2 * 1 + 1 * 2 + 3 * (ignored: 0) + 0.5 * 2 = 5 (sum(w) = 6.5 before)
    loss = CrossEntropyLoss(weight=[1.0, 2.0, 0.5], ignore_index=2)
    target = np.array([0, 1, 2, 1])
    w = np.array([2.0, 1.0, 3.0, 0.5])
    assert mean_divisor(loss, target, w) == 5.0
    assert mean_divisor(loss, target) == 1.0 + 2.0 + 2.0  # PyTorch's: sum of cw[y], kept
    # equal logits: each kept sample's loss is cw[y] log 3, so the mean is
    # (2 * 1 + 1 * 2 + 0.5 * 2) log 3 / 5 = log 3 (it read 5 log 3 / 6.5 = 0.845)
    step = loss.forward_backward(np.zeros((4, 3)), target, w)
    assert step.loss == pytest.approx(math.log(3.0), rel=4 * np.finfo(np.float64).eps)
    # each kept row's gradient: w_n cw[y_n] (1/3 - onehot) / 5; the ignored row's is 0
    expected = np.array([2.0, 2.0, 0.0, 1.0])[:, None] * (1 / 3 - np.eye(3)[[0, 1, 0, 1]]) / 5
    np.testing.assert_allclose(step.grad, expected, rtol=0, atol=4 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("options", ["class weights", "class weights and ignore_index"])
def test_nll_loss_weighted_as_fit_weighs_it(options, rng):
    # fit weighs a loss without forward_backward through weighted_mean_step: unit weights
    # give NLLLoss's own mean and gradient
    settings = {key: value for key, value in OPTIONS[options].items()}
    loss = NLLLoss(**settings)
    logits, target = _batch(rng, np.float64)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected, grad = loss.forward(logp, target), loss.backward()
    per_sample = copy.copy(loss)
    per_sample.reduction = "none"
    hits = np.argmax(logp, axis=1) == target
    step = weighted_mean_step(per_sample, logp, target, np.ones(len(target)), hits)
    _close(step.loss, expected, np.float64, "loss")
    _close(step.grad, grad, np.float64, "gradient")


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", list(OPTIONS))
def test_the_weighted_mean_is_torchs_per_sample_losses_over_the_weighted_divisor(
    options, dtype, lane, rng
):
    torch = pytest.importorskip("torch")
    settings = OPTIONS[options]
    loss = CrossEntropyLoss(**settings)
    logits, target = _batch(rng, dtype, loss.ignore_index)
    w = rng.uniform(0.0, 2.0, size=len(target))
    step = loss.forward_backward(logits, target, w.astype(dtype))
    # torch in float64: its per-sample losses (class weights applied, ignored ones 0), then
    # sum(w l) / sum(w cw[y]) over the targets not ignored
    x = torch.tensor(logits.astype(np.float64), requires_grad=True)
    cw = torch.tensor(settings.get("weight", np.ones(5)), dtype=torch.float64)
    t = torch.tensor(target)
    per_sample = torch.nn.functional.cross_entropy(
        x,
        t,
        weight=cw if "weight" in settings else None,
        ignore_index=settings.get("ignore_index", -100),
        label_smoothing=settings.get("label_smoothing", 0.0),
        reduction="none",
    )
    kept = t != settings.get("ignore_index", -100)
    wt = torch.tensor(w)
    divisor = (wt * cw[torch.where(kept, t, 0)] * kept).sum()
    expected = (wt * per_sample).sum() / divisor
    expected.backward()
    _close(step.loss, expected.item(), dtype, "loss")
    _close(step.grad, x.grad.numpy(), dtype, "gradient")
    # and weights of 1 give torch's own 'mean'
    unit = loss.forward_backward(logits, target, np.ones(len(target), dtype))
    mean = torch.nn.functional.cross_entropy(
        x.detach(),
        t,
        weight=cw if "weight" in settings else None,
        ignore_index=settings.get("ignore_index", -100),
        label_smoothing=settings.get("label_smoothing", 0.0),
    )
    _close(unit.loss, mean.item(), dtype, "unit weights against torch's mean")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_samples_whose_targets_weigh_zero_have_a_zero_gradient_under_smoothing(dtype):
    # the samples weigh 1 and 2, but every target's class weighs 0: the divisor
    # sum_n w_n cw[y_n] is 0 and the loss 0.0, so the gradient is 0 too, as without sample
    # weights; the smoothing's share of the other classes would otherwise give each row one
    logits = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype)
    loss = CrossEntropyLoss(weight=[0.0, 1.0, 1.0], label_smoothing=0.3)
    step = loss.forward_backward(logits, np.array([0, 0]), sample_weight=np.array([1.0, 2.0]))
    assert step.loss == 0.0, f"expected a loss of 0.0, got {step.loss!r}"
    nonzero = [tuple(int(i) for i in at) for at in np.argwhere(step.grad != 0)]
    assert not nonzero, (
        f"expected an all-zero gradient, got {step.grad[nonzero[0]]!r} at {nonzero[0]}"
    )

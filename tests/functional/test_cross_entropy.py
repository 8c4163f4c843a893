"""cross_entropy / cross_entropy_grad / nll_loss / nll_loss_grad without torch.

Values against hand-written formulas, gradients against float64 central differences for every
option combination, every axis, float32 and float64; the documented deviation from torch
(mean over zero targets -> 0.0); argument errors in the house template.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from softgrad.functional import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    log_softmax_jacobian,
    log_softmax_vjp,
    nll_loss,
    nll_loss_grad,
    softmax,
)
from softgrad.nn import CrossEntropyLoss

REDUCTIONS = ["mean", "sum", "none"]
OPTIONS = [
    dict(weight=w, ignore_index=ig, label_smoothing=ls)
    for w, ig, ls in itertools.product([None, "w"], [None, 1], [0.0, 0.3])
]
DTYPES = [(np.float64, 1e-6, 1e-8), (np.float32, 1e-4, 1e-5)]
SHAPES_AXES = [
    ((4,), 0),
    ((5, 4), -1),
    ((4, 5), 0),
    ((2, 3, 4), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), -1),
]


def _case(rng, shape, axis, options, dtype, probs=False):
    n = shape[axis]
    lead = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    logits = (rng.normal(size=shape) * 2).astype(dtype)
    if probs:
        target = np.moveaxis(rng.dirichlet(np.ones(n), size=lead), -1, axis).astype(dtype)
    else:
        target = rng.integers(0, n, size=lead)
        if target.size > 1:
            target.flat[0] = 1  # make sure ignore_index=1 is exercised, not all ignored
            target.flat[-1] = 0
    kw = dict(options)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.2, 2.0, size=n)
    return logits, target, kw


def _onehot_reference(logits, target, axis, reduction, weight, ignore_index, label_smoothing):
    # the torch definition written out in float64 with the class axis moved last
    logp = np.moveaxis(log_softmax(logits.astype(np.float64), axis), axis, -1)
    n = logp.shape[-1]
    w = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    t = np.where(valid, target, 0)
    onehot = np.eye(n)[t]
    nll = -np.sum(onehot * logp, axis=-1) * w[t] * valid
    smooth = -np.sum(logp * w, axis=-1) * valid
    per = (1 - label_smoothing) * nll + label_smoothing / n * smooth
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    denom = np.sum(w[t] * valid)
    return per.sum() / denom if denom > 0 else 0.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
)
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_class_target_values_match_definition(rng, close, shape, axis, options, reduction):
    logits, target, kw = _case(rng, shape, axis, options, np.float64)
    expected = _onehot_reference(logits, target, axis, reduction, **kw)
    actual = cross_entropy(logits, target, axis=axis, reduction=reduction, **kw)
    close(actual, expected, rtol=1e-12, atol=1e-14, what=f"cross_entropy {reduction} {kw}")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
)
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_class_target_grad_matches_central_differences(
    rng, close, central_diff, shape, axis, options, reduction, dtype, rtol, atol
):
    logits, target, kw = _case(rng, shape, axis, options, dtype)

    def loss_sum(z):
        return np.sum(cross_entropy(z, target, axis=axis, reduction=reduction, **kw))

    expected = central_diff(loss_sum, logits, 1.0)
    actual = cross_entropy_grad(logits, target, axis=axis, reduction=reduction, **kw)
    assert actual.dtype == dtype and actual.shape == logits.shape
    close(actual, expected, rtol, atol, what=f"cross_entropy_grad {reduction} {kw}")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_prob_target_values_and_grad(
    rng, close, central_diff, shape, axis, weighted, label_smoothing, reduction, dtype, rtol, atol
):
    opts = dict(weight="w" if weighted else None, label_smoothing=label_smoothing)
    logits, target, kw = _case(rng, shape, axis, opts, dtype, probs=True)
    n = shape[axis]
    t = target.astype(np.float64) * (1 - label_smoothing) + label_smoothing / n
    w = np.ones(n) if kw["weight"] is None else kw["weight"]
    per = -np.sum(np.moveaxis(log_softmax(logits.astype(np.float64), axis) * t, axis, -1) * w, -1)
    expected = {"none": per, "sum": per.sum(), "mean": per.sum() / max(per.size, 1)}[reduction]
    got = cross_entropy(logits, target, axis=axis, reduction=reduction, **kw)
    close(got, expected, rtol, atol, what="prob-target value")

    def loss_sum(z):
        return np.sum(cross_entropy(z, target, axis=axis, reduction=reduction, **kw))

    grad = cross_entropy_grad(logits, target, axis=axis, reduction=reduction, **kw)
    close(grad, central_diff(loss_sum, logits, 1.0), rtol, atol, what="prob-target grad")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 1])
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_fused_grad_equals_chain_rule_and_explicit_jacobian(
    rng, close, shape, axis, weighted, ignore_index, reduction, dtype, rtol, atol
):
    # cross_entropy = nll_loss o log_softmax: the fused gradient must equal the chain rule
    # through log_softmax_vjp and through the explicit log-softmax Jacobian
    opts = dict(weight="w" if weighted else None, ignore_index=ignore_index, label_smoothing=0.0)
    logits, target, kw = _case(rng, shape, axis, opts, dtype)
    del kw["label_smoothing"]
    fused = cross_entropy_grad(logits, target, axis, reduction=reduction, **kw)
    logp = log_softmax(logits, axis)
    g = nll_loss_grad(logp, target, axis, reduction=reduction, **kw)  # dL/dlogp
    close(fused, log_softmax_vjp(logp, g, axis), rtol, atol, what="fused vs chain rule")
    jac = log_softmax_jacobian(logits, axis)  # (..., i, j) = d logp_i / d x_j
    via_jac = np.einsum("...i,...ij->...j", np.moveaxis(g, axis, -1), jac)
    close(fused, np.moveaxis(via_jac, -1, axis), rtol, atol, what="fused vs g @ J")


def test_unweighted_grad_is_softmax_minus_smoothed_target(close):
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    target = np.array([2, 0])
    eps = 0.1
    smoothed = (1 - eps) * np.eye(3)[target] + eps / 3
    expected = (softmax(logits) - smoothed) / 2  # mean over N = 2
    close(cross_entropy_grad(logits, target, label_smoothing=eps), expected, 1e-15, 1e-17, "fused")


def test_hand_computed_value():
    # logits [0, 0] target 0: -log(1/2) = log 2; with weight [3, 1] the mean is still log 2
    assert cross_entropy(np.zeros((1, 2)), np.array([0])) == pytest.approx(np.log(2), rel=1e-15)
    loss = cross_entropy(np.zeros((2, 2)), np.array([0, 1]), weight=np.array([3.0, 1.0]))
    assert loss == pytest.approx(np.log(2), rel=1e-15)  # (3 log2 + 1 log2) / (3 + 1)


def test_scalar_types_follow_logits_dtype():
    assert isinstance(cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 1])), np.float32)
    assert isinstance(cross_entropy(np.zeros((2, 3), np.float16), np.array([0, 1])), np.float16)
    assert isinstance(cross_entropy(np.zeros((2, 3), int), np.array([0, 1])), np.float64)
    assert (
        cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 1]), reduction="none").dtype
        == np.float32
    )


@pytest.mark.parametrize(
    "kw",
    [
        dict(ignore_index=2, target=[2, 2]),
        dict(weight=[0.0, 1.0, 1.0], target=[0, 0]),
        dict(target=np.zeros(0, int), logits=np.zeros((0, 3))),
    ],
)
def test_mean_over_zero_targets_is_zero_not_nan(kw):
    logits = kw.pop("logits", np.ones((2, 3)))
    target = np.asarray(kw.pop("target"))
    assert cross_entropy(logits, target, **kw) == 0.0
    assert np.all(cross_entropy_grad(logits, target, **kw) == 0.0)
    assert nll_loss(log_softmax(logits), target, **kw) == 0.0
    assert np.all(nll_loss_grad(log_softmax(logits), target, **kw) == 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_mean_whose_targets_weigh_zero_has_a_zero_gradient_under_smoothing(dtype):
    # every target's class weighs 0 and the smoothing's share of the other classes does not:
    # the 'mean' divisor sum_n w[y_n] is 0, the loss 0.0 (torch: NaN), and so the gradient 0,
    # not the gradient of the sum that the smoothed targets would otherwise give
    logits = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype)
    kw = dict(weight=[0.0, 1.0, 1.0], label_smoothing=0.3)
    target = np.array([0, 0])
    assert cross_entropy(logits, target, **kw) == 0.0
    grad = cross_entropy_grad(logits, target, **kw)
    nonzero = [tuple(int(i) for i in at) for at in np.argwhere(grad != 0)]
    assert not nonzero, f"expected an all-zero gradient, got {grad[nonzero[0]]!r} at {nonzero[0]}"


def test_ignored_rows_have_zero_gradient_even_with_nonfinite_logits():
    logits = np.array([[1.0, 2.0], [np.nan, np.inf], [0.0, 0.0]])
    target = np.array([0, -100, 1])
    grad = cross_entropy_grad(logits, target, ignore_index=-100, label_smoothing=0.2)
    assert np.all(grad[1] == 0) and np.all(np.isfinite(grad))
    assert np.isfinite(cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.2))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_an_ignored_row_whose_first_class_is_infinitely_wrong_warns_nothing(kernel_lane, dtype):
    # the ignored row is gathered at class 0 with weight 0: its inf loss times 0 warned
    # "invalid value encountered in multiply" (an error under -W error, as in this suite)
    logits = np.array([[-np.inf, 0.0, 1.0], [0.0, 1.0, 2.0], [-3e4, 3e4, 0.0]], dtype)
    target = np.array([-100, 2, -100])
    expected = -np.log(np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum())[2]
    tol = 8 * float(np.finfo(dtype).eps)
    for weight in (None, [1.0, 2.0, 1.0]):
        loss = cross_entropy(logits, target, ignore_index=-100, weight=weight)
        assert loss == pytest.approx(expected, rel=tol)
        grad = cross_entropy_grad(logits, target, ignore_index=-100, weight=weight)
        assert np.all(grad[[0, 2]] == 0) and np.all(np.isfinite(grad))
        layer = CrossEntropyLoss(ignore_index=-100, weight=weight)
        assert layer.forward(logits, target) == pytest.approx(
            expected, rel=8 * float(np.finfo(dtype).eps)
        )
    # a kept row of a class weighing 0, at a -inf logit: NaN, as torch's and nll_loss's, quietly
    masked = np.array([[-np.inf, 0.0, 1.0]], dtype)
    assert np.isnan(cross_entropy(masked, [0], weight=[0.0, 1.0, 1.0], reduction="none")[0])


def test_finite_huge_logits_give_finite_loss_and_grad():
    logits = np.array([[3e38, -3e38, 0.0], [1e4, -1e4, 1e-30]], np.float32)
    target = np.array([0, 1])
    assert np.all(np.isfinite(cross_entropy_grad(logits, target)))
    assert np.isfinite(cross_entropy(logits, target, reduction="none")[0])


def test_out_buffer_and_in_place(rng, close):
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    target = rng.integers(0, 4, size=6)
    expected = cross_entropy_grad(logits, target)
    out = np.empty_like(logits)
    assert cross_entropy_grad(logits, target, out=out) is out
    close(out, expected, 0, 0, "out=")
    out_t = np.empty((4, 6), np.float32).T  # a non-contiguous buffer is filled, not replaced
    assert cross_entropy_grad(logits, target, out=out_t) is out_t
    close(out_t, expected, 0, 0, "non-contiguous out=")
    # the class axis first: the same numbers, transposed, into a buffer of that layout
    out_0 = np.empty((4, 6), np.float32)
    assert cross_entropy_grad(logits.T.copy(), target, axis=0, out=out_0) is out_0
    close(out_0, expected.T, 1e-6, 1e-8, "axis=0 out=")
    assert cross_entropy_grad(logits, target, out=logits) is logits  # in place, last
    close(logits, expected, 0, 0, "out=logits")
    with pytest.raises(TypeError, match=r"^cross_entropy_grad: out must have dtype 'float32'"):
        cross_entropy_grad(logits, target, out=np.empty((6, 4)))


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 0])
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_nll_loss_and_grad(
    rng, close, central_diff, shape, axis, weighted, ignore_index, reduction, dtype, rtol, atol
):
    opts = dict(weight="w" if weighted else None, ignore_index=ignore_index, label_smoothing=0.0)
    logits, target, kw = _case(rng, shape, axis, opts, dtype)
    del kw["label_smoothing"]
    logp = log_softmax(logits, axis)
    # cross_entropy(logits) == nll_loss(log_softmax(logits)) by definition
    loss = nll_loss(logp, target, axis, reduction=reduction, **kw)
    assert np.asarray(loss).dtype == dtype
    close(
        loss,
        cross_entropy(logits, target, axis, reduction=reduction, **kw),
        rtol,
        atol,
        "nll vs ce",
    )

    def loss_sum(z):
        return np.sum(nll_loss(z, target, axis, reduction=reduction, **kw))

    grad = nll_loss_grad(logp, target, axis, reduction=reduction, **kw)
    assert grad.dtype == dtype and grad.shape == logp.shape
    close(grad, central_diff(loss_sum, logp, 1.0), rtol, atol, "nll grad vs FD")


@pytest.mark.parametrize("fn", [cross_entropy, cross_entropy_grad, nll_loss, nll_loss_grad])
def test_bad_arguments(fn):
    name = fn.__name__
    x = np.zeros((2, 3))
    t = np.array([0, 2])
    cases = [
        (
            ValueError,
            dict(target=np.array([0, 3])),
            rf"^{name}: target must be class indices in \[0, 2\] \(or ignore_index\); "
            r"got 3 at index \(1,\)$",
        ),
        (ValueError, dict(target=np.array([-1, 0])), r"got -1 at index \(0,\)$"),
        (
            ValueError,
            dict(reduction="avg"),
            rf"^{name}: reduction must be one of 'mean', 'sum', 'none'; got 'avg'$",
        ),
        (
            ValueError,
            dict(weight=[1.0, -1.0, 1.0]),
            rf"^{name}: weight must be finite and non-negative; got -1.0 at index 1$",
        ),
        (
            ValueError,
            dict(weight=[1.0, np.nan, 1.0]),
            r"weight must be finite and non-negative; got nan",
        ),
        (
            ValueError,
            dict(weight=[1.0, 1.0]),
            rf"^{name}: weight must have shape \(3,\) \(one per class\); got shape \(2,\)$",
        ),
        (ValueError, dict(axis=2), rf"^{name}: axis must be in \[-2, 1\] for 2-d input; got 2$"),
        (
            ValueError,
            dict(target=np.array([0, 1, 2])),
            rf"^{name}: target \(class indices\) must have shape \(2,\) .*; got shape \(3,\)$",
        ),
        (
            TypeError,
            dict(target=np.array([True, False])),
            rf"^{name}: target must be .*; got dtype 'bool'$",
        ),
        (
            TypeError,
            dict(ignore_index=1.5),
            rf"^{name}: ignore_index must be an int or None; got 1.5$",
        ),
    ]
    if fn in (cross_entropy, cross_entropy_grad):
        cases += [
            (
                ValueError,
                dict(label_smoothing=1.5),
                rf"^{name}: label_smoothing must be a float in \[0, 1\]; got 1.5$",
            ),
            (
                ValueError,
                dict(label_smoothing=-0.1),
                r"label_smoothing must be a float in \[0, 1\]; got -0.1$",
            ),
            (
                TypeError,
                dict(label_smoothing="0.1"),
                rf"^{name}: label_smoothing must be a float in \[0, 1\]; got '0.1'$",
            ),
            (
                ValueError,
                dict(target=np.zeros((3, 2))),
                rf"^{name}: target \(class probabilities\) must have the logits' shape \(2, 3\); "
                r"got shape \(3, 2\)$",
            ),
            (
                ValueError,
                dict(target=np.full((2, 3), 1 / 3), ignore_index=0),
                rf"^{name}: ignore_index must be None with class-probability \(float\) "
                r"targets; got 0$",
            ),
        ]
    else:
        cases.append(
            (
                TypeError,
                dict(target=np.zeros(2)),
                rf"^{name}: target must be an integer array of class indices; got dtype 'float64'$",
            )
        )
    for error, kw, pattern in cases:
        args = dict(kw)
        target = args.pop("target", t)
        with pytest.raises(error, match=pattern):
            fn(x, target, **args)


def test_ignore_index_outside_class_range_is_allowed():
    # torch's default ignore_index is -100: a target equal to it is skipped, not out of range
    loss = cross_entropy(np.zeros((2, 3)), np.array([-100, 1]), ignore_index=-100)
    assert loss == pytest.approx(np.log(3), rel=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_default_options_lane_matches_general_path(rng, close, reduction, dtype):
    # C-contiguous (N, C) logits with default options take a lean lane; a Fortran-ordered copy
    # of the same logits goes through the general path
    logits = (rng.normal(size=(7, 5)) * 3).astype(dtype)
    target = rng.integers(0, 5, size=7)
    lane = cross_entropy_grad(logits, target, reduction=reduction)
    general = cross_entropy_grad(np.asfortranarray(logits), target, reduction=reduction)
    assert lane.dtype == dtype and lane.flags.c_contiguous
    # the general path copies the logits to C order and runs the same kernels: a few
    # roundings apart at most, whatever the dtype (1e-6 let float64 lose half its digits)
    tol = 4 * float(np.finfo(dtype).eps)
    close(lane, general, rtol=tol, atol=tol, what="lean lane vs general path")
    out = np.empty_like(logits)
    assert cross_entropy_grad(logits, target, reduction=reduction, out=out) is out
    close(out, lane, 0, 0, what="lean lane out=")
    loss_lane = cross_entropy(logits, target, reduction=reduction)
    loss_general = cross_entropy(np.asfortranarray(logits), target, reduction=reduction)
    close(loss_lane, loss_general, rtol=tol, atol=tol, what="loss lane vs general path")
    for bad in ([0, 1, 2, 3, 4, 5, 0], [-1, 0, 0, 0, 0, 0, 0]):
        for fn in (cross_entropy, cross_entropy_grad):
            with pytest.raises(ValueError, match=r"target must be class indices in \[0, 4\]"):
                fn(logits, np.array(bad), reduction=reduction)


def test_float64_extreme_logits_overflow_silently_to_inf():
    # the true loss 3.4e308 is beyond float64: it rounds to inf without a warning
    logits = np.array([[1.7e308, -1.7e308]])
    assert cross_entropy(logits, np.array([1])) == np.inf
    assert np.all(np.isfinite(cross_entropy_grad(logits, np.array([1]))))


def test_nonfinite_logits_follow_log_softmax_limits():
    # +inf logits share the mass (log_softmax's limit): the loss of a target at one of the k
    # +inf entries is log(k), elsewhere inf; a NaN row gives NaN and leaves the others alone
    logits = np.array([[np.inf, 0.0, np.inf], [1.0, 2.0, 3.0], [np.nan, 0.0, 0.0]])
    per = cross_entropy(logits, np.array([0, 2, 1]), reduction="none")
    assert per[0] == pytest.approx(np.log(2), rel=1e-15)
    assert per[1] == pytest.approx(np.log(np.exp([-2.0, -1.0, 0.0]).sum()), rel=1e-15)
    assert np.isnan(per[2])
    assert cross_entropy(logits[:1], np.array([1])) == np.inf
    # -inf logits (a common mask) stay on the fast path: loss inf only at a -inf target
    masked = np.array([[0.0, -np.inf, 0.0]])
    assert cross_entropy(masked, np.array([0])) == pytest.approx(np.log(2), rel=1e-15)
    assert cross_entropy(masked, np.array([1])) == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_zero_target_probability_takes_nothing_from_an_infinite_logit(dtype):
    # sum_c t_c * (lse - logits_c) with t_c = 0 at an infinite logit: 0 * inf was NaN
    def loss(logits, target):
        return cross_entropy(np.array([logits], dtype), np.array([target], dtype))

    # a -inf logit (a mask) the target gives 0: the loss of the other classes
    assert loss([-np.inf, 0.0, 1.0], [0.0, 0.5, 0.5]) == pytest.approx(
        np.log1p(np.e) - 0.5, rel=4 * float(np.finfo(dtype).eps)
    )
    # one +inf logit holds all the mass: the target on it loses nothing, and k of them log(k)
    assert loss([np.inf, 0.0, 1.0], [1.0, 0.0, 0.0]) == 0.0
    assert loss([np.inf, 0.0, np.inf], [0.5, 0.0, 0.5]) == pytest.approx(
        np.log(2), rel=4 * float(np.finfo(dtype).eps)
    )
    # the limits where the target does reach an infinite logit, and NaN, stay as they were
    assert loss([-np.inf, 0.0, 1.0], [0.1, 0.4, 0.5]) == np.inf
    assert loss([np.inf, 0.0, 1.0], [0.5, 0.5, 0.0]) == np.inf
    assert np.isnan(loss([np.nan, 0.0, 1.0], [0.0, 0.5, 0.5]))
    assert np.isnan(loss([-np.inf, -np.inf, -np.inf], [0.0, 1.0, 0.0]))
    # the gradient was right already: softmax * sum(t) - t, 0 at the mask
    grad = cross_entropy_grad(np.array([[-np.inf, 0.0, 1.0]], dtype), np.array([[0, 0.5, 0.5]]))
    s = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(grad[0], [0.0, *(s - 0.5)], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("n_classes", [2, 1000])
def test_float32_rows_whose_exps_sum_past_float32s_range_keep_their_softmax(n_classes):
    # each exp(88.5) = 2.7e38 is finite and their sum is not: the stored sum was inf in the
    # Numba lane, and the gradient -onehot alone
    x = np.full((2, n_classes), 88.5, np.float32)
    target = np.array([0, 1])
    expected = (np.full((2, n_classes), 1 / n_classes) - np.eye(n_classes)[target]) / 2
    tol = 4 * np.finfo(np.float32).eps
    np.testing.assert_allclose(cross_entropy_grad(x, target), expected, rtol=tol, atol=tol / 2)
    assert cross_entropy(x, target) == pytest.approx(np.log(n_classes), rel=1e-6)


def test_the_mean_gradient_of_many_rows_of_large_logits_keeps_its_precision():
    # r / S with r = 1 / N and S near float32's limit was a float32 subnormal: 7% off here
    n = 200_000
    x = np.full((n, 2), 88.0, np.float32)
    target = np.zeros(n, np.int64)
    expected = np.array([-0.5, 0.5]) / n
    grad = cross_entropy_grad(x, target)
    np.testing.assert_allclose(grad[[0, -1]], [expected, expected], rtol=1e-6)


@pytest.mark.parametrize("fn", [cross_entropy, cross_entropy_grad, nll_loss, nll_loss_grad])
def test_logits_without_classes_are_refused_by_name(fn):
    with pytest.raises(ValueError, match=r"must have at least one class along axis 1; got shape"):
        fn(np.zeros((2, 0)), np.zeros(2, np.int64))


@pytest.mark.parametrize("fn", [cross_entropy, cross_entropy_grad])
@pytest.mark.parametrize("target", [np.zeros(0, np.int64), np.zeros((0, 0))])
def test_an_empty_batch_of_zero_classes_is_an_empty_sum(fn, target):
    result = fn(np.zeros((0, 0)), target)
    assert np.shape(result) in ((), (0, 0)) and np.all(result == 0)


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss])
def test_unsigned_targets_beyond_intp_are_reported_as_given(fn):
    # cast to intp they wrapped to negative indices: 2**64 - 1 became -1, an ignore_index
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    target = np.array([0, 2**64 - 1], np.uint64)
    with pytest.raises(ValueError, match=r"got 18446744073709551615 at index \(1,\)"):
        fn(x, target, ignore_index=-1)

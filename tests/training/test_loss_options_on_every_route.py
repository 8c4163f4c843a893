"""Cross-entropy's options through every route, against PyTorch: a differential grid.

Every combination of reduction, label smoothing, ignore_index (none, some targets, all of
them; a class or a value outside the classes), sample weights (none, random, some zero, all
zero), class weights and target kind (indices; probabilities where ignore_index allows them),
in float32 and float64, on both kernel lanes, through softgrad.functional, the
CrossEntropyLoss layer (forward/backward and forward_backward, the training step's loss, fused
or not) and one step of fit (SGD, lr 1, no momentum: the weights move by minus the gradient;
through the step plan with ``fuse=True`` and the public methods without).

The oracle is ``torch.nn.functional.cross_entropy(reduction="none")``, reduced by the rule the
documentation states: 'sum' is sum_n w_n l_n, 'mean' divides it by sum_n w_n cw[y_n] over the
targets not ignored (1 per sample for probabilities), a zero divisor giving 0 where torch
gives NaN; 'none' is w_n l_n, whose sum gives the gradient. Without sample weights (w = 1) that
is torch's own reduction, which the oracle checks too.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.functional import cross_entropy, cross_entropy_grad
from softgrad.nn import CrossEntropyLoss, Sequential, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit

pytestmark = pytest.mark.oracle

N, D, C = 6, 3, 4
IGNORED = {"some": 2, "some_outside": -100, "all": 2}  # the ignore_index of each case
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
SMOOTHING = [0.0, 0.1]
IGNORE = ["none", "some", "some_outside", "all"]
CLASS_WEIGHTS = ["none", "random"]
# (target kind, ignore case): ignore_index is for class indices only (refused below)
TARGETS = [("indices", ignore) for ignore in IGNORE] + [("probabilities", "none")]


def _case(dtype, targets, ignore, sample_weight, class_weight, seed=0):
    """``(inputs X (N, D), target, sample weights or None, class weights or None,
    ignore_index or None)``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)).astype(dtype)
    y = rng.integers(0, C, N)
    y[:3] = [0, 1, 3]
    if ignore in ("some", "some_outside"):
        y[[1, 4]] = IGNORED[ignore]
    if ignore == "all":
        y[:] = IGNORED[ignore]
    target = rng.dirichlet(np.ones(C), N).astype(dtype) if targets == "probabilities" else y
    w = {
        "none": None,
        "random": rng.uniform(0.2, 2.0, N),
        "some_zero": np.where(np.arange(N) % 2 == 1, 0.0, rng.uniform(0.2, 2.0, N)),
        "all_zero": np.zeros(N),
    }[sample_weight]
    w = None if w is None else w.astype(dtype)
    cw = None if class_weight == "none" else rng.uniform(0.2, 2.0, C)
    return X, target, w, cw, IGNORED.get(ignore)


def _torch(logits, target, reduction, smoothing, ignore_index, w, cw):
    """The oracle's (value, dL/dlogits) in float64 (module docstring)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.tensor(logits.astype(np.float64), requires_grad=True)
    t = torch.tensor(target.astype(np.float64) if target.dtype.kind == "f" else target)
    options = {"weight": None if cw is None else torch.tensor(cw), "label_smoothing": smoothing}
    if ignore_index is not None:
        options["ignore_index"] = ignore_index
    losses = F.cross_entropy(x, t, reduction="none", **options)
    ones = torch.ones(N, dtype=torch.float64)
    weights = ones if w is None else torch.tensor(w, dtype=torch.float64)
    if target.dtype.kind == "f":
        counts = ones
    else:
        kept = t != (-100 if ignore_index is None else ignore_index)
        classes = torch.ones(C, dtype=torch.float64) if cw is None else torch.tensor(cw)
        counts = classes[torch.where(kept, t, 0)] * kept
    divisor = float((weights * counts).sum())
    total = (weights * losses).sum()
    if reduction == "mean":
        total = total / divisor if divisor > 0 else total * 0.0
        if w is None and divisor > 0:  # the rule is torch's own mean without sample weights
            own = F.cross_entropy(x.detach(), t, reduction="mean", **options)
            np.testing.assert_allclose(total.item(), own.item(), rtol=1e-12)
    value = (weights * losses).detach().numpy() if reduction == "none" else total.item()
    total.backward()
    return value, x.grad.numpy()


def _agree(actual, expected, dtype, what, magnitude=1.0):
    """Within (N + C) * 8 roundings of ``dtype``, relative to the largest magnitude: N rows
    summed, C classes normalised each, a few elementwise passes; the oracle is float64."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(1.0, magnitude, float(np.max(np.abs(expected), initial=0.0)))
    tol = 8 * (N + C) * float(np.finfo(dtype).eps) * scale
    err = np.abs(actual - expected)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    assert not err.size or err[worst] <= tol, (
        f"{what}: expected {expected[worst]!r}, got {actual[worst]!r} at index {worst} "
        f"(error {err[worst]:.3g} > {tol:.3g})"
    )


def _logits(X, dtype):
    # fixed weights: the logits of each case span a few units
    W = np.linspace(-1.5, 1.5, D * C).reshape(D, C)
    return (X.astype(np.float64) @ W).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize(("targets", "ignore"), TARGETS)
@pytest.mark.parametrize("class_weight", CLASS_WEIGHTS)
def test_the_functional_and_the_layer_give_torchs_loss_and_gradient(
    kernel_lane, dtype, reduction, smoothing, targets, ignore, class_weight
):
    X, target, _, cw, ignore_index = _case(dtype, targets, ignore, "none", class_weight)
    logits = _logits(X, dtype)
    value, grad = _torch(logits, target, reduction, smoothing, ignore_index, None, cw)
    options = {
        "reduction": reduction,
        "weight": cw,
        "ignore_index": ignore_index,
        "label_smoothing": smoothing,
    }
    _agree(cross_entropy(logits, target, **options), value, dtype, "cross_entropy")
    _agree(cross_entropy_grad(logits, target, **options), grad, dtype, "cross_entropy_grad")
    layer = CrossEntropyLoss(**options)
    _agree(layer.forward(logits, target), value, dtype, "CrossEntropyLoss.forward")
    _agree(layer.backward(), grad, dtype, "CrossEntropyLoss.backward")
    step = CrossEntropyLoss(**options).forward_backward(logits, target)
    _agree(step.loss, value, dtype, "forward_backward's loss")
    _agree(step.grad, grad, dtype, "forward_backward's gradient")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize(("targets", "ignore"), TARGETS)
@pytest.mark.parametrize("sample_weight", ["random", "some_zero", "all_zero"])
@pytest.mark.parametrize("class_weight", CLASS_WEIGHTS)
def test_forward_backward_weighs_the_samples_as_the_rule_on_torchs_losses(
    kernel_lane, dtype, reduction, smoothing, targets, ignore, sample_weight, class_weight
):
    X, target, w, cw, ignore_index = _case(dtype, targets, ignore, sample_weight, class_weight)
    logits = _logits(X, dtype)
    value, grad = _torch(logits, target, reduction, smoothing, ignore_index, w, cw)
    layer = CrossEntropyLoss(
        reduction=reduction, weight=cw, ignore_index=ignore_index, label_smoothing=smoothing
    )
    step = layer.forward_backward(logits, target, w)
    _agree(step.loss, value, dtype, "forward_backward's loss")
    if sample_weight == "all_zero":  # a batch that weighs 0 has no gradient (StepLoss)
        assert step.grad is None
    else:
        _agree(step.grad, grad, dtype, "forward_backward's gradient")


def test_unit_sample_weights_are_no_weights_for_reduction_none(kernel_lane):
    # forward_backward with weights of 1 took the weighted mean for reduction "none": a
    # scalar loss and a gradient N times smaller than without weights
    X, target, _, _, _ = _case(np.float64, "indices", "none", "none", "none")
    logits = _logits(X, np.float64)
    plain = CrossEntropyLoss(reduction="none").forward_backward(logits, target)
    unit = CrossEntropyLoss(reduction="none").forward_backward(logits, target, np.ones(N))
    np.testing.assert_array_equal(unit.loss, plain.loss)
    np.testing.assert_array_equal(unit.grad, plain.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])  # fit refuses "none" (below)
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize("ignore", IGNORE)
@pytest.mark.parametrize("sample_weight", ["none", "random", "some_zero"])
@pytest.mark.parametrize("class_weight", CLASS_WEIGHTS)
@pytest.mark.parametrize("fuse", [True, False])  # the step plan, or the public methods
def test_one_step_of_fit_moves_the_weights_by_torchs_gradient(
    kernel_lane, dtype, reduction, smoothing, ignore, sample_weight, class_weight, fuse
):
    X, y, w, cw, ignore_index = _case(dtype, "indices", ignore, sample_weight, class_weight)
    model = build_mlp(D, [], C, rng=0, dtype=dtype)  # one Linear: dW = X^T g, db = sum g
    if not fuse:
        model = Sequential(*model.layers, fuse=False)
    W0, b0 = (model.named_params()[k].copy() for k in ("0.W", "0.b"))
    logits = X.astype(np.float64) @ W0 + b0
    value, grad = _torch(logits, y, reduction, smoothing, ignore_index, w, cw)
    loss = CrossEntropyLoss(
        reduction=reduction, weight=cw, ignore_index=ignore_index, label_smoothing=smoothing
    )
    history = fit(
        model, loss, SGD(lr=1.0, momentum=0.0), X, y, sample_weight=w, epochs=1, batch_size=N, rng=0
    )
    W1, b1 = (model.named_params()[k] for k in ("0.W", "0.b"))
    magnitude = float(np.max(np.abs(W0)))
    _agree(W0 - W1, X.astype(np.float64).T @ grad, dtype, "the weights' step", magnitude)
    _agree(b0 - b1, grad.sum(axis=0), dtype, "the biases' step", magnitude)
    # fit reports a sum per sample (per unit of weight)
    per_sample = 1.0 if reduction == "mean" else float(N if w is None else np.sum(w, dtype=float))
    _agree(history.train_loss[0], value / per_sample, dtype, "the epoch's loss")


@pytest.mark.parametrize(
    "route",
    ["cross_entropy", "cross_entropy_grad", "forward", "forward_backward", "weighted"],
)
def test_every_route_refuses_ignore_index_with_probability_targets_alike(kernel_lane, route):
    X, target, _, _, _ = _case(np.float64, "probabilities", "none", "none", "none")
    logits = _logits(X, np.float64)
    calls = {
        "cross_entropy": lambda: cross_entropy(logits, target, ignore_index=2),
        "cross_entropy_grad": lambda: cross_entropy_grad(logits, target, ignore_index=2),
        "forward": lambda: CrossEntropyLoss(ignore_index=2).forward(logits, target),
        "forward_backward": lambda: CrossEntropyLoss(ignore_index=2).forward_backward(
            logits, target
        ),
        "weighted": lambda: CrossEntropyLoss(ignore_index=2).forward_backward(
            logits, target, np.ones(N)
        ),
    }
    message = "ignore_index must be None with class-probability \\(float\\) targets; got 2"
    with pytest.raises(ValueError, match=message):
        calls[route]()

"""PyTorch as the oracle: values and gradients of every functional, every cross-entropy option.

Marked ``oracle``; skipped without torch for a user, required by CI (torch==2.13.0).
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
    log_softmax_jvp,
    log_softmax_vjp,
    logsumexp,
    nll_loss,
    nll_loss_grad,
    relu,
    relu_vjp,
    sigmoid,
    sigmoid_vjp,
    softmax,
    softmax_jacobian,
    softmax_jvp,
    softmax_vjp,
    tanh,
    tanh_vjp,
)

pytestmark = pytest.mark.oracle

DTYPES = [(np.float64, 1e-12, 1e-14), (np.float32, 1e-5, 1e-6)]
SHAPES_AXES = [((6,), 0), ((4, 5), 0), ((4, 5), 1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 2)]


def _t(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_softmax_family_values_and_vjps(rng, close, shape, axis, dtype, rtol, atol):
    torch = pytest.importorskip("torch")
    x = (rng.normal(size=shape) * 3).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    for ours, ours_vjp, theirs in [
        (softmax, softmax_vjp, torch.softmax),
        (log_softmax, log_softmax_vjp, torch.log_softmax),
    ]:
        xt = _t(torch, x, grad=True)
        yt = theirs(xt, dim=axis)
        (yt * _t(torch, g)).sum().backward()
        y = ours(x, axis)
        close(y, yt.detach().numpy(), rtol, atol, what=f"{ours.__name__} value")
        close(ours_vjp(y, g, axis), xt.grad.numpy(), rtol, atol, what=f"{ours.__name__} vjp")
    xt = _t(torch, x, grad=True)
    lse = torch.logsumexp(xt, dim=axis)
    lse.sum().backward()
    close(logsumexp(x, axis), lse.detach().numpy(), rtol, atol * 10, what="logsumexp value")
    close(softmax(x, axis), xt.grad.numpy(), rtol, atol, what="logsumexp grad")


@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_jvps_and_jacobians(rng, close, shape, axis):
    torch = pytest.importorskip("torch")
    from torch.autograd.functional import jacobian, jvp

    x = rng.normal(size=shape)
    v = rng.normal(size=shape)
    pairs = [
        (softmax, softmax_jvp, softmax_jacobian, torch.softmax),
        (log_softmax, log_softmax_jvp, log_softmax_jacobian, torch.log_softmax),
    ]
    for ours, ours_jvp, ours_jac, theirs in pairs:
        _, tangent = jvp(lambda z, f=theirs: f(z, dim=axis), _t(torch, x), _t(torch, v))
        close(ours_jvp(ours(x, axis), v, axis), tangent.numpy(), 1e-12, 1e-14, "jvp")
        full = jacobian(lambda z, f=theirs: f(z, dim=axis), _t(torch, x)).numpy()
        # torch's full Jacobian is shape + shape; ours keeps one (C, C) block per slice
        lead = [d for i, d in enumerate(shape) if i != axis]
        full = np.moveaxis(full, [axis, len(shape) + axis], [-2, -1])
        blocks = np.empty((*lead, shape[axis], shape[axis]))
        for pos in np.ndindex(*lead):
            blocks[pos] = full[pos + pos]  # d y[pos, i] / d x[pos, j]
        close(ours_jac(x, axis), blocks, 1e-12, 1e-14, what=f"{ours_jac.__name__}")


def test_masked_softmax_matches_torch_masked_fill(rng, close):
    torch = pytest.importorskip("torch")
    x = rng.normal(size=(5, 6))
    mask = rng.random(size=(5, 6)) < 0.6
    mask[:, 0] = True  # torch gives NaN for a fully masked row; ours gives zeros (tested elsewhere)
    xt = _t(torch, x, grad=True)
    yt = torch.softmax(xt.masked_fill(_t(torch, ~mask), float("-inf")), dim=-1)
    g = rng.normal(size=x.shape)
    (yt * _t(torch, g)).sum().backward()
    s = softmax(x, where=mask)
    close(s, yt.detach().numpy(), 1e-14, 1e-16, what="masked softmax")
    close(softmax_vjp(s, g), xt.grad.numpy(), 1e-13, 1e-15, what="masked softmax vjp")
    lt = torch.log_softmax(_t(torch, x).masked_fill(_t(torch, ~mask), float("-inf")), dim=-1)
    close(log_softmax(x, where=mask), lt.numpy(), 1e-14, 1e-16, what="masked log_softmax")


def _ce_cases():
    targets = ["index", "probs"]
    weights = [False, True]
    ignores = [None, -100, 1]
    smoothing = [0.0, 0.2, 1.0]
    reductions = ["mean", "sum", "none"]
    for case in itertools.product(targets, weights, ignores, smoothing, reductions):
        if case[0] == "probs" and case[2] is not None:
            continue  # torch rejects ignore_index with probability targets (so do we)
        yield case


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize(
    ("kind", "weighted", "ignore_index", "label_smoothing", "reduction"), list(_ce_cases())
)
@pytest.mark.parametrize("shape", [(5,), (6, 5), (3, 5, 4)], ids=["C", "NC", "NCd"])
def test_cross_entropy_every_option(
    rng, close, shape, kind, weighted, ignore_index, label_smoothing, reduction, dtype, rtol, atol
):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    axis = 0 if len(shape) == 1 else 1  # torch's class axis
    n = shape[axis]
    lead = tuple(d for i, d in enumerate(shape) if i != axis)
    logits = (rng.normal(size=shape) * 2).astype(dtype)
    if kind == "index":
        target = rng.integers(0, n, size=lead)
        if ignore_index is not None and target.size > 1:
            target.flat[0] = ignore_index
            target.flat[-1] = 3  # never everything ignored here (tested separately)
    else:
        target = np.moveaxis(rng.dirichlet(np.ones(n), size=lead), -1, axis).astype(dtype)
    weight = rng.uniform(0.2, 3.0, size=n).astype(dtype) if weighted else None
    kw = dict(reduction=reduction, weight=weight, label_smoothing=label_smoothing)
    xt = _t(torch, logits, grad=True)
    lt = F.cross_entropy(
        xt,
        _t(torch, target),
        weight=None if weight is None else _t(torch, weight),
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    lt.sum().backward()
    what = f"{kind} w={weighted} ignore={ignore_index} ls={label_smoothing} {reduction}"
    loss = cross_entropy(logits, target, axis=axis, ignore_index=ignore_index, **kw)
    close(loss, lt.detach().numpy(), rtol, atol * 10, what=f"loss {what}")
    grad = cross_entropy_grad(logits, target, axis=axis, ignore_index=ignore_index, **kw)
    close(grad, xt.grad.numpy(), rtol, atol, what=f"grad {what}")
    if len(shape) > 1:  # the same through the class-last layout (axis=-1)
        moved = np.ascontiguousarray(np.moveaxis(logits, axis, -1))
        t_moved = target if kind == "index" else np.moveaxis(target, axis, -1)
        grad_last = cross_entropy_grad(moved, t_moved, ignore_index=ignore_index, **kw)
        close(np.moveaxis(grad_last, -1, axis), xt.grad.numpy(), rtol, atol, what=f"axis=-1 {what}")


@pytest.mark.parametrize("weighted", [False, True])
def test_mean_over_zero_targets_documented_deviation(weighted):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    logits = np.zeros((3, 4))
    target = np.full(3, -100)
    weight = np.ones(4) if weighted else None
    theirs = F.cross_entropy(
        _t(torch, logits), _t(torch, target), weight=None if weight is None else _t(torch, weight)
    )
    assert np.isnan(theirs.item())  # torch: 0 / 0
    assert cross_entropy(logits, target, ignore_index=-100, weight=weight) == 0.0  # ours: 0.0


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(rng, close, dtype, rtol, atol, weighted, ignore_index, reduction):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    logp = log_softmax(rng.normal(size=(6, 4, 3)).astype(dtype), axis=1)
    target = rng.integers(0, 4, size=(6, 3))
    weight = rng.uniform(0.5, 2.0, size=4).astype(dtype) if weighted else None
    lt_in = _t(torch, logp, grad=True)
    lt = F.nll_loss(
        lt_in,
        _t(torch, target),
        weight=None if weight is None else _t(torch, weight),
        ignore_index=-100 if ignore_index is None else ignore_index,
        reduction=reduction,
    )
    lt.sum().backward()
    kw = dict(axis=1, reduction=reduction, weight=weight, ignore_index=ignore_index)
    close(nll_loss(logp, target, **kw), lt.detach().numpy(), rtol, atol, what="nll_loss")
    close(nll_loss_grad(logp, target, **kw), lt_in.grad.numpy(), rtol, atol, what="nll_loss_grad")


@pytest.mark.parametrize(("dtype", "rtol", "atol"), DTYPES)
def test_activations(rng, close, dtype, rtol, atol):
    torch = pytest.importorskip("torch")
    x = np.concatenate([rng.normal(size=20) * 5, [-1000.0, -80.0, 80.0, 1000.0]]).astype(dtype)
    x[np.abs(x) < 1e-3] = 0.5  # away from relu's kink
    g = rng.normal(size=x.shape).astype(dtype)
    for ours, ours_vjp, theirs in [
        (relu, relu_vjp, torch.relu),
        (sigmoid, sigmoid_vjp, torch.sigmoid),
        (tanh, tanh_vjp, torch.tanh),
    ]:
        xt = _t(torch, x, grad=True)
        yt = theirs(xt)
        (yt * _t(torch, g)).sum().backward()
        y = ours(x)
        close(y, yt.detach().numpy(), rtol * 10, atol, what=f"{ours.__name__} value")
        close(ours_vjp(y, g), xt.grad.numpy(), rtol * 10, atol, what=f"{ours.__name__} vjp")


def test_float16_matches_torch_half(rng, close):
    torch = pytest.importorskip("torch")
    x = (rng.normal(size=(8, 50)) * 4).astype(np.float16)
    xt = _t(torch, x)
    # both compute in float32 and round once to float16: within one float16 ulp
    close(softmax(x), torch.softmax(xt, -1).numpy(), rtol=1e-3, atol=1e-6, what="half softmax")
    close(log_softmax(x), torch.log_softmax(xt, -1).numpy(), 1e-3, 1e-3, what="half log_softmax")
    assert softmax(x).dtype == np.float16 and log_softmax(x).dtype == np.float16

"""CrossEntropyLoss.forward_backward with sample weights and ignore_index together takes the
one-kernel path (and so fit's step plan), with the separate passes' results (forward, backward
and an argmax) and PyTorch's: an ignore_index inside the classes and outside them (-100), a
max_sample_loss that some rows pass or none does, every target ignored, the kept rows weighing
0, the whole batch weighing 0, in float32 and float64 on both kernel lanes."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss

pytestmark = pytest.mark.oracle

N, C = 12, 5
IGNORED_ROWS = [2, 9]
# cap -> what it does here: rows 1 and 6 (kept) have losses near 60 and pass 36.04; none
# passes 80, which the ignored row 9 (a loss near 120 were it kept) would
CAPS = {"no cap": None, "some rows pass": 36.04, "no row passes": 80.0}
WEIGHTS = ["random", "some zero", "kept rows zero", "all zero"]


@pytest.fixture
def lane(kernel_lane):
    """Each test once per kernel lane (tests/conftest.py's kernel_lane)."""
    return kernel_lane


def _case(dtype, ignore_index, ignored, weights):
    rng = np.random.default_rng(abs(ignore_index))
    logits = 3 * rng.normal(size=(N, C))
    target = rng.integers(1, C, N)  # no target 0: a 60 in column 0 is a large loss
    logits[[1, 6], 0] = 60.0
    logits[9, 0] = 120.0
    if ignored == "some":
        target[IGNORED_ROWS] = ignore_index
    else:
        target[:] = ignore_index
    w = rng.uniform(0.2, 2.0, N)
    if weights == "some zero":
        w[::2] = 0.0
    elif weights == "kept rows zero":  # the batch weighs > 0, the mean's divisor is 0
        w[target != ignore_index] = 0.0
    elif weights == "all zero":
        w[:] = 0.0
    return logits.astype(dtype), target, w.astype(dtype)


def _torch(logits, target, w, ignore_index, cap):
    """(loss, grad, correct) by the documented rule on torch's per-sample losses: sum_n w_n
    min(l_n, cap) / sum_n w_n over the kept rows (0 for a divisor of 0), the gradient of the
    uncapped mean (None if the batch weighs 0), the kept hits' weight."""
    torch = pytest.importorskip("torch")
    kept = target != ignore_index
    x = torch.tensor(logits.astype(np.float64), requires_grad=True)
    losses = torch.nn.functional.cross_entropy(
        x, torch.tensor(target), reduction="none", ignore_index=ignore_index
    )
    w64 = torch.tensor(w.astype(np.float64))
    divisor = float((w64 * torch.tensor(kept)).sum())
    scale = 1.0 / divisor if divisor > 0 else 0.0
    (w64 * losses).sum().mul(scale).backward()
    capped = losses.detach() if cap is None else losses.detach().clamp(max=cap)
    loss = float((w64 * capped).sum()) * scale
    grad = None if not w.astype(np.float64).sum() > 0 else x.grad.numpy()
    hits = (np.argmax(logits, axis=1) == target) & kept
    return loss, grad, float(np.dot(w.astype(np.float64), hits))


def _agree(step, expected, dtype, what):
    loss, grad, correct = expected
    # the loss sums N rows of C terms in float64, the gradient each row in the dtype
    tol = 8 * (N + C) * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(step.loss, loss, rtol=tol, atol=tol, err_msg=what + ": loss")
    np.testing.assert_allclose(step.correct, correct, rtol=tol, err_msg=what + ": correct")
    if grad is None:
        assert step.grad is None, what
        return
    assert step.grad.dtype == dtype, what
    np.testing.assert_allclose(step.grad, grad, rtol=tol, atol=tol, err_msg=what + ": grad")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignore_index", [3, -100])
@pytest.mark.parametrize("ignored", ["some", "all"])
@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("cap", list(CAPS))
def test_weights_with_ignore_index_take_one_kernel_with_the_separate_passes_results(
    dtype, ignore_index, ignored, weights, cap, lane
):
    logits, target, w = _case(dtype, ignore_index, ignored, weights)
    if ignored == "some" and CAPS[cap] is not None:  # the cap does what CAPS says
        x = logits.astype(np.float64)
        every = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1) - x.T
        rows = np.setdiff1d(np.arange(N), IGNORED_ROWS)
        kept = every[target[rows], rows]
        assert (kept.max() > CAPS[cap]) == (cap == "some rows pass")
        assert every[:, 9].max() > CAPS[cap]  # the ignored row's loss, were it kept
    loss = CrossEntropyLoss(ignore_index=ignore_index, max_sample_loss=CAPS[cap])
    assert loss._fuses(logits, target, w)  # the one-kernel path, as fit's step plan
    step = loss.forward_backward(logits, target, w)
    expected = _torch(logits, target, w, ignore_index, CAPS[cap])
    _agree(step, expected, dtype, "forward_backward against torch")
    separate = loss._separate_passes(logits, target, w)
    _agree(step, (separate.loss, separate.grad, separate.correct), dtype, "the separate passes")

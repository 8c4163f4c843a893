"""The training step's one-kernel loss (``softmax_cross_entropy_mean_correct``) with sample
weights and ignore_index together, on both lanes, against PyTorch: the weighted mean over the
rows not ignored, sum_n w_n l_n / sum_n w_n, its gradient and the weighted hits.

CrossEntropyLoss.forward_backward and fit's step plan take this path for the pair
(tests/nn/test_nn_loss_step_weights_with_ignore_index.py), as the kernels promise (their
docstrings): an ignore_index inside or outside the classes,
weights of 0 on some rows or on every row kept, an ignored row holding NaN or inf, short and
long rows (``LONG_ROW``), a fresh gradient or the logits themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.kernels.numpy_ops import NumpyOps

pytestmark = pytest.mark.oracle

N = 9


def _lanes():
    lanes = [NumpyOps()]
    try:
        from softgrad.kernels.numba_ops import NumbaOps
    except ImportError:
        return lanes
    return [*lanes, NumbaOps()]


@pytest.mark.parametrize("n_classes", [4, 64, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignore_index", [2, -100])
@pytest.mark.parametrize("weights", ["random", "some_zero", "kept_zero"])
@pytest.mark.parametrize("bad_ignored_row", [False, True])
@pytest.mark.parametrize("in_place", [False, True])
def test_weights_and_ignore_index_together_give_torchs_weighted_mean(
    n_classes, dtype, ignore_index, weights, bad_ignored_row, in_place
):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n_classes)
    logits = (3 * rng.normal(size=(N, n_classes))).astype(dtype)
    y = rng.integers(0, n_classes, N)
    y[[1, 4]] = ignore_index
    if bad_ignored_row:  # an ignored row counts in nothing, whatever it holds
        logits[4, 1], logits[1, 0] = np.nan, np.inf
    w = rng.uniform(0.2, 2.0, N).astype(dtype)
    if weights == "some_zero":
        w[::2] = 0
    if weights == "kept_zero":  # weight only on the ignored rows: the mean's divisor is 0
        w[y != ignore_index] = 0
    kept = y != ignore_index
    x = torch.tensor(np.where(kept[:, None], logits, 0).astype(np.float64), requires_grad=True)
    losses = torch.nn.functional.cross_entropy(
        x, torch.tensor(y), reduction="none", ignore_index=ignore_index
    )
    w64 = torch.tensor(w.astype(np.float64))
    divisor = float((w64 * torch.tensor(kept)).sum())
    mean = (w64 * losses).sum() / divisor if divisor > 0 else (w64 * losses).sum() * 0.0
    mean.backward()
    hits = (np.argmax(logits, axis=1) == y) & kept
    # the loss sums N rows of C terms in float64, the gradient each row in the dtype
    tol = 8 * (N + n_classes) * float(np.finfo(dtype).eps)
    for ops in _lanes():
        x_in = logits.copy()
        grad = x_in if in_place else np.empty_like(x_in)
        loss, correct = ops.softmax_cross_entropy_mean_correct(x_in, y, grad, w, ignore_index)
        where = f"{ops.name}: "
        np.testing.assert_allclose(loss, mean.item(), rtol=tol, atol=tol, err_msg=where + "loss")
        np.testing.assert_allclose(grad, x.grad.numpy(), rtol=tol, atol=tol, err_msg=where)
        want = float(np.sum(w.astype(np.float64) * hits)) if divisor > 0 else 0.0
        np.testing.assert_allclose(correct, want, rtol=tol, err_msg=where + "correct")

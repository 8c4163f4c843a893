"""LogisticLoss (sigmoid cross-entropy): formula, gradient, options, against torch."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import LogisticLoss


def _reference(z, t):
    """-t log s - (1 - t) log(1 - s), s = sigmoid(z), in float64 without shortcuts."""
    s = 1.0 / (1.0 + np.exp(-z))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s))


@pytest.mark.parametrize("width", [1, 3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_and_gradient(rng, width, reduction):
    z = rng.normal(size=(7, width))
    t = rng.uniform(size=(7, width))
    loss = LogisticLoss(reduction=reduction)
    value = loss.forward(z, t)
    per_sample = _reference(z, t).sum(axis=1)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}
    np.testing.assert_allclose(value, expected[reduction], rtol=1e-12)
    grad_y = rng.normal(size=7) if reduction == "none" else 1.7
    grad = loss.backward(grad_y)
    scale = 1 / 7 if reduction == "mean" else 1.0
    s = 1.0 / (1.0 + np.exp(-z))
    expected_grad = (s - t) * scale * (grad_y[:, None] if reduction == "none" else grad_y)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_gradient_matches_central_differences(rng):
    z = rng.normal(size=(5, 2))
    t = rng.uniform(size=(5, 2))
    loss = LogisticLoss()
    loss.forward(z, t)
    analytic = loss.backward()
    numeric = np.empty_like(z)
    h = 1e-6
    for j in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[j] += h
        down[j] -= h
        numeric[j] = (LogisticLoss().forward(up, t) - LogisticLoss().forward(down, t)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-10)


def test_class_indices_and_label_smoothing():
    z = np.array([[0.3], [-1.2]])
    eps = 0.2
    smoothed = LogisticLoss(label_smoothing=eps).forward(z, np.array([1, 0]))
    targets = np.array([[1 - eps / 2], [eps / 2]])  # (1 - eps) * t + eps / 2
    assert smoothed == pytest.approx(_reference(z, targets).mean(), rel=1e-12)
    with pytest.raises(ValueError, match=r"must be 0 or 1 for one output; got values in \[1, 2\]$"):
        LogisticLoss().forward(z, np.array([1, 2]))  # plain numbers, not np.int64(1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_for_huge_logits_and_dtype_kept(dtype):
    z = np.array([[1e4], [-1e4], [3e38]], dtype=dtype)
    loss = LogisticLoss(reduction="none")
    value = loss.forward(z, np.array([0, 1, 1]))
    assert np.all(np.isfinite(value)) and value.dtype == dtype
    grad = loss.backward()
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, np.array([[1.0], [-1.0], [0.0]], dtype=dtype))


@pytest.mark.oracle
def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    z = rng.normal(size=(6, 2))
    t = rng.uniform(size=(6, 2))
    loss = LogisticLoss(reduction="sum")
    zt = torch.tensor(z, requires_grad=True)
    reference = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.tensor(t), reduction="sum"
    )
    reference.backward()
    assert loss.forward(z, t) == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_a_loss_cap_applies_to_each_sample_and_leaves_the_gradient(reduction):
    logits = np.array([[-50.0], [0.5], [40.0]])
    target = np.array([1, 1, 0])
    per_sample = LogisticLoss(reduction="none").forward(logits, target)
    capped = np.minimum(per_sample, 36.04)
    assert capped.tolist() != per_sample.tolist()
    expected = {"none": capped, "sum": capped.sum(), "mean": capped.mean()}[reduction]
    loss = LogisticLoss(reduction=reduction, max_sample_loss=36.04)
    np.testing.assert_allclose(loss.forward(logits, target), expected, rtol=1e-12)
    plain = LogisticLoss(reduction=reduction)
    plain.forward(logits, target)
    np.testing.assert_array_equal(loss.backward(), plain.backward())
    assert loss.get_config()["max_sample_loss"] == 36.04


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_an_empty_batch_has_a_loss_of_0_as_cross_entropys_does(reduction):
    # the mean divided by the 0 samples: ZeroDivisionError
    loss = LogisticLoss(reduction=reduction)
    assert loss.forward(np.zeros((0, 1)), np.zeros(0, dtype=np.int64)) == 0.0
    assert loss.backward().shape == (0, 1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_no_outputs_sum_no_terms_to_a_loss_of_0(reduction):
    # logits of shape (N, 0): each sample's loss is a sum over no outputs (an IndexError was
    # raised from the kernel's one-output shortcut)
    loss = LogisticLoss(reduction=reduction)
    value = loss.forward(np.zeros((3, 0)), np.zeros((3, 0)))
    np.testing.assert_array_equal(value, np.zeros(3) if reduction == "none" else 0.0)
    grad_y = np.ones(3) if reduction == "none" else None
    assert loss.backward(grad_y).shape == (3, 0)

"""Label smoothing (softgrad.kernels.targets): the formulas by hand, and their callers (the
softmax cross-entropy's probability and class-index targets, LogisticLoss's) on the kernels'
numbers."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.functional import cross_entropy
from softgrad.kernels import get_ops
from softgrad.nn import LogisticLoss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_smooth_targets_by_hand(dtype):
    t = np.array([[1.0, 0.0, 0.0], [0.25, 0.25, 0.5]], dtype)
    # t' = (1 - eps) t + eps / K: eps = 0.3, K = 3 -> 0.7 t + 0.1
    expected = np.array([[0.8, 0.1, 0.1], [0.275, 0.275, 0.45]], dtype)
    got = get_ops().smooth_targets(t, 0.3, 3)
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps)
    assert got.dtype == dtype and got.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert get_ops().smooth_targets(t, 0.3, 3, out=t) is t
    np.testing.assert_array_equal(t, got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_smooth_class_targets_by_hand(dtype):
    y = np.array([2, 0, 1])
    w = np.array([1.0, 2.0, 4.0], dtype)
    # eps = 0.3, C = 3: share (eps / C) w = [0.1, 0.2, 0.4]; (1 - eps) w[y] = [2.8, 0.7, 1.4]
    # added at y; the middle row ignored (its index 0 kept in range by the caller)
    valid = np.array([True, False, True])
    row_weight = w[y] * valid
    got = get_ops().smooth_class_targets(y, 0.3, 3, np.dtype(dtype), w, row_weight, valid)
    expected = np.array([[0.1, 0.2, 3.2], [0.0, 0.0, 0.0], [0.1, 1.6, 0.4]], dtype)
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps)
    assert got.dtype == dtype
    plain = get_ops().smooth_class_targets(y, 0.3, 3, np.dtype(dtype))
    np.testing.assert_allclose(plain, [[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(plain.sum(axis=1), 1.0, rtol=4 * np.finfo(dtype).eps)


def test_class_index_smoothing_uses_the_kernel(rng):
    logits = rng.standard_normal((6, 4))
    y = np.array([0, 3, 1, 3, 2, 0])
    w = rng.uniform(0.5, 2.0, size=4)
    keep = y != 3
    smoothed = get_ops().smooth_class_targets(
        np.where(keep, y, 0), 0.2, 4, logits.dtype, w, w[y] * keep, keep
    )
    # the smoothed distributions carry the weights, so as probability targets they take none;
    # their loss is the index call's, whose 'mean' divides by the kept rows' total weight
    expected = cross_entropy(logits, smoothed, reduction="sum") / np.sum(w[y] * keep)
    got = cross_entropy(logits, y, weight=w, ignore_index=3, label_smoothing=0.2)
    np.testing.assert_allclose(got, expected, rtol=8 * np.finfo(np.float64).eps)


def test_the_losses_smooth_with_the_kernel(rng):
    logits = rng.standard_normal((5, 4))
    t = rng.dirichlet(np.ones(4), size=5)
    smoothed = get_ops().smooth_targets(t, 0.2, 4)
    expected = cross_entropy(logits, smoothed, reduction="none")
    got = cross_entropy(logits, t, label_smoothing=0.2, reduction="none")
    np.testing.assert_array_equal(got, expected)
    z, y = rng.standard_normal((6, 1)), rng.uniform(size=(6, 1))
    smoothed = get_ops().smooth_targets(y, 0.2, 2)
    plain = LogisticLoss(reduction="none").forward(z, smoothed)
    np.testing.assert_array_equal(
        LogisticLoss(label_smoothing=0.2, reduction="none").forward(z, y), plain
    )

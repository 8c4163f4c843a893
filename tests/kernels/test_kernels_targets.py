"""Label smoothing (softgrad.kernels.targets): the formula by hand, and its two callers (the
softmax cross-entropy's probability targets, LogisticLoss's) on the kernel's numbers."""

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

"""The estimator's training objective and its gradient, against central differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

from softgrad.sklearn._data import targets
from softgrad.sklearn._network import Network


def _objective(net, X, T, weight, alpha):
    """The documented objective, written independently: (w @ CE + alpha ||W||^2 / 2) / sum(w)."""
    logits = net.logits(X)
    if logits.shape[1] == 1:
        logits = np.hstack([np.zeros_like(logits), logits])
        T = np.hstack([1 - T, T])
    ce = -(T * log_softmax(logits, axis=1)).sum(axis=1)
    w = np.ones(len(X)) if weight is None else weight
    l2 = sum(float((c**2).sum()) for c in net.coefs)
    return (w @ ce + 0.5 * alpha * l2) / w.sum()


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_central_differences(rng, activation, n_classes, weighted):
    X = rng.normal(size=(9, 5))
    y = rng.integers(0, n_classes, size=9)
    T = targets(y, n_classes, label_smoothing=0.2, dtype=np.float64)
    weight = rng.uniform(0.1, 2.0, size=9) if weighted else None
    net = Network([5, 6, 4, 1 if n_classes == 2 else n_classes], activation, np.float64)
    net.init_glorot(rng)
    alpha = 0.3
    loss = net.loss_and_grad(X, T, weight, alpha)
    analytic = net.grad.copy()
    assert loss == pytest.approx(_objective(net, X, T, weight, alpha), rel=1e-12)
    numeric = np.empty_like(analytic)
    h = 1e-6
    for j in range(net.flat.size):
        saved = net.flat[j]
        net.flat[j] = saved + h
        up = _objective(net, X, T, weight, alpha)
        net.flat[j] = saved - h
        down = _objective(net, X, T, weight, alpha)
        net.flat[j] = saved
        numeric[j] = (up - down) / (2 * h)
    # relu kinks are measure-zero for random inputs; central differences are O(h^2) accurate
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_label_smoothing_targets():
    # eps = 0.3 over C = 3: the true class gets 1 - 0.3 + 0.1 = 0.8, the others 0.1 each
    np.testing.assert_allclose(targets(np.array([2]), 3, 0.3, np.float64), [[0.1, 0.1, 0.8]])
    # binary: one column with (1 - eps) * y + eps / 2
    np.testing.assert_allclose(targets(np.array([1, 0]), 2, 0.3, np.float64), [[0.85], [0.15]])


def test_pickle_rebuilds_the_views(rng):
    import pickle

    net = Network([3, 4, 2], "relu", np.float32)
    net.init_glorot(rng)
    clone = pickle.loads(pickle.dumps(net))
    clone.flat[0] = 42.0
    assert clone.coefs[0][0, 0] == 42.0  # coefs are views into the flat buffer again
    np.testing.assert_array_equal(clone.intercepts[1], net.intercepts[1])

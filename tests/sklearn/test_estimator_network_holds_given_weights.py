"""The estimator's network is built holding the weights it is given (sklearn's initial draw, a
fitted sklearn MLP's, coefs_ assigned by hand): no Linear draws initial weights to be
overwritten, and building peaks at the weights and their gradients."""

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SkMLP

from softgrad.sklearn import MLPClassifier
from softgrad.sklearn._network import build_model, glorot_weights


def _bits(array):
    return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}")


def _data(n_classes):
    X = np.random.default_rng(0).normal(size=(60, 5))
    return X, np.arange(60) % n_classes


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
def test_from_sklearn_and_to_model_hold_the_weights_bit_for_bit_without_drawing(
    forbid_draws, n_classes
):
    X, y = _data(n_classes)
    sk = SkMLP(hidden_layer_sizes=(7, 4), max_iter=3, random_state=0).fit(X, y)
    forbid_draws()
    ours = MLPClassifier.from_sklearn(sk)
    for mine, theirs in zip(
        ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_, strict=True
    ):
        assert mine.dtype == theirs.dtype == np.float64
        np.testing.assert_array_equal(_bits(mine), _bits(theirs))
    params = ours.to_model().network.named_params()
    assert all(array.base is params.flat for array in params.values())
    expected = {"0.W": sk.coefs_[0], "0.b": sk.intercepts_[0], "2.W": sk.coefs_[1]}
    if n_classes == 2:  # one logistic output z becomes the logits [0, z]
        expected["4.W"] = np.hstack([np.zeros_like(sk.coefs_[2]), sk.coefs_[2]])
        expected["4.b"] = np.concatenate([[0.0], sk.intercepts_[2]])
    else:
        expected["4.W"], expected["4.b"] = sk.coefs_[2], sk.intercepts_[2]
    expected["2.b"] = sk.intercepts_[1]
    assert list(params) == sorted(expected)
    for name, array in params.items():
        np.testing.assert_array_equal(_bits(array), _bits(expected[name]), err_msg=name)


def test_fit_and_assigned_coefs_build_the_network_without_drawing(forbid_draws):
    X, y = _data(3)
    forbid_draws()
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])  # sklearn's initial draw, from random_state
    clf.coefs_ = [np.full((5, 6), 0.5), np.zeros((6, 3))]  # a whole list: a new network
    clf.intercepts_ = [np.float64(0.25), np.arange(3)]  # cast and broadcast as before
    np.testing.assert_array_equal(clf.coefs_[0], np.float32(0.5))
    np.testing.assert_array_equal(clf.intercepts_[0], np.full(6, 0.25, np.float32))
    np.testing.assert_array_equal(clf.decision_function(X), np.tile([0.0, 1.0, 2.0], (60, 1)))


def test_the_initial_weights_are_sklearns_draw_cast_to_the_dtype():
    units = [5, 6, 3]
    expected = list(glorot_weights(units, "relu", np.random.RandomState(4)))
    network = build_model(
        glorot_weights(units, "relu", np.random.RandomState(4)), "relu", 0.0, np.dtype(np.float32)
    )
    params = network.named_params()
    for index, (coef, intercept) in zip((0, 2), expected, strict=True):
        np.testing.assert_array_equal(params[f"{index}.W"], coef.astype(np.float32))
        np.testing.assert_array_equal(params[f"{index}.b"], intercept.astype(np.float32))


def test_building_from_given_weights_peaks_at_the_weights_and_their_gradients(traced_peak):
    # each Linear drew its weights and gradients, was overwritten, then the store copied it:
    # 3x the weights' bytes. Now the store moves the cast copies, then allocates gradients
    pairs = list(glorot_weights([784, 1024, 1024, 10], "relu", np.random.RandomState(0)))
    network, peak = traced_peak(lambda: build_model(pairs, "relu", 0.5, np.dtype(np.float64)))
    size = network.named_params().flat.nbytes  # 15 MB
    assert peak <= 2.05 * size + (1 << 20), f"peak {peak / size:.2f}x the weights' {size} bytes"

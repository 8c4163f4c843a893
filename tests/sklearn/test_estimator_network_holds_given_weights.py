"""The estimator's network is built holding the weights it is given (sklearn's initial draw, a
fitted sklearn MLP's, coefs_ assigned by hand): no Linear draws initial weights to be
overwritten, and building peaks at the weights and their gradients."""

import itertools

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SkMLP

from softgrad.functional import softmax as softmax_rows
from softgrad.sklearn import MLPClassifier
from softgrad.sklearn._network import build_model, glorot_model


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
    logits = clf.to_model().decision_function(X)
    np.testing.assert_array_equal(logits, np.tile([0.0, 1.0, 2.0], (60, 1)))
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(clf.predict_proba(X), np.tile(expected, (60, 1)), rtol=1e-6)


def _sklearns_draw(layer_units, activation, random_state):
    """sklearn's initial (coef, intercept) of each layer, as MLPClassifier._init_coef draws
    them: whole float64 arrays, coef then intercept, layer by layer."""
    factor = 2.0 if activation == "logistic" else 6.0
    pairs = []
    for fan_in, fan_out in itertools.pairwise(layer_units):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coef = random_state.uniform(-bound, bound, (fan_in, fan_out))
        pairs.append((coef, random_state.uniform(-bound, bound, fan_out)))
    return pairs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_the_initial_weights_are_sklearns_draw_cast_to_the_dtype(activation, dtype):
    units = [600, 500, 6, 3]  # a coef of 300,000 scalars: drawn in more than one block
    state, expected_state = np.random.RandomState(4), np.random.RandomState(4)
    expected = _sklearns_draw(units, activation, expected_state)
    network = glorot_model(units, activation, 0.0, np.dtype(dtype), state)
    params = network.named_params()
    for index, (coef, intercept) in zip((0, 2, 4), expected, strict=True):
        for name, value in (("W", coef), ("b", intercept)):
            np.testing.assert_array_equal(
                _bits(params[f"{index}.{name}"]), _bits(value.astype(dtype)), err_msg=name
            )
    assert state.random_sample() == expected_state.random_sample()  # the same draws taken


def test_building_sklearns_initial_network_peaks_at_the_weights_and_their_gradients(traced_peak):
    # each layer's whole float64 draw, cast into new arrays, then copied into the store: 2.7x
    units = [784, 1024, 1024, 10]
    state = np.random.RandomState(0)
    network, peak = traced_peak(lambda: glorot_model(units, "relu", 0.5, np.dtype("f4"), state))
    size = network.named_params().flat.nbytes  # 7.3 MB
    assert peak <= 2 * size + (1 << 21) + (1 << 16), f"peak {peak / size:.2f}x of {size} bytes"


def test_building_from_given_weights_peaks_at_the_weights_and_their_gradients(traced_peak):
    # each Linear drew its weights and gradients, was overwritten, then the store copied it:
    # 3x the weights' bytes. Now the store moves the cast copies, then allocates gradients
    pairs = _sklearns_draw([784, 1024, 1024, 10], "relu", np.random.RandomState(0))
    network, peak = traced_peak(lambda: build_model(pairs, "relu", 0.5, np.dtype(np.float64)))
    size = network.named_params().flat.nbytes  # 15 MB
    assert peak <= 2.05 * size + (1 << 20), f"peak {peak / size:.2f}x the weights' {size} bytes"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_assigned_weights_refused_for_one_intercept_are_kept_until_it_is_fixed():
    # NumPy's "could not broadcast input array from shape (4,) into shape (3,)", and the
    # assigned coefs_ were dropped with it: after the fix the old network predicted
    X, y = _data(3)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    W0, W1 = np.full((5, 5), 0.1), np.full((5, 3), 0.2)
    clf.coefs_ = [W0, W1]
    clf.intercepts_ = [np.zeros(5), np.zeros(4)]
    with pytest.raises(
        ValueError,
        match=r"^MLPClassifier: intercepts_\[1\] must have the shape \(3,\) \(one per column of "
        r"coefs_\[1\], \(5, 3\)\); got \(4,\)",
    ):
        clf.predict_proba(X)
    clf.intercepts_ = [np.zeros(5), np.arange(3.0)]
    expected = build_model([(W0, np.zeros(5)), (W1, np.arange(3.0))], "relu", 0.0, np.float32)
    np.testing.assert_allclose(
        clf.predict_proba(X), softmax_rows(expected.forward(X.astype(np.float32))), rtol=1e-6
    )
    np.testing.assert_array_equal(clf.coefs_[0], W0.astype(np.float32))

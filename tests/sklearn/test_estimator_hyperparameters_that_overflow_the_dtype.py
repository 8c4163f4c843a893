"""Issue 12: MLPClassifier names its own parameter when it overflows the training dtype (the
optimizer underneath would name its lr, eps or fit's l2_penalty, which the user never set)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from softgrad.sklearn import MLPClassifier


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"learning_rate_init": 1e308}, "learning_rate_init"),
        ({"learning_rate_init": 1e308, "solver": "sgd"}, "learning_rate_init"),
        ({"alpha": 1e308}, "alpha"),
        ({"epsilon": 1e300}, "epsilon"),
    ],
)
def test_a_parameter_overflowing_float32_names_the_estimators_parameter(params, name):
    X = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    with pytest.raises(ValueError) as info:
        MLPClassifier(max_iter=2, **params).fit(X, y)
    message = str(info.value)
    assert message.startswith(f"MLPClassifier: {name}=")
    assert "overflows float32 (max 3.4e+38)" in message and "dtype=np.float64" in message


def test_an_epsilon_rounding_to_0_in_float32_names_epsilon_before_anything_is_set_up():
    X = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    clf = MLPClassifier(max_iter=2, epsilon=1e-50)
    with pytest.raises(ValueError) as info:
        clf.fit(X, y)
    message = str(info.value)
    assert message.startswith("MLPClassifier: epsilon must be at least 1.4e-45 in float32")
    assert "got 1e-50" in message and "dtype=np.float64" in message
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "n_iter_")  # not left looking fitted
    # float64 holds it: the same epsilon trains there (two epochs do not converge)
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(max_iter=2, epsilon=1e-50, dtype=np.float64).fit(X, y)


def test_a_refused_warm_start_leaves_the_fitted_estimator_as_it_was():
    X = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(max_iter=2, warm_start=True, random_state=0).fit(X, y)
    coefs = [c.copy() for c in clf.coefs_]
    n_iter, curve = clf.n_iter_, list(clf.loss_curve_)
    clf.set_params(learning_rate_init=1e308)
    with pytest.raises(ValueError, match="learning_rate_init=1e"):
        clf.fit(X, y)
    assert clf.n_iter_ == n_iter and clf.loss_curve_ == curve
    for before, after in zip(coefs, clf.coefs_, strict=True):
        np.testing.assert_array_equal(before, after)

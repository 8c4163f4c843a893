"""Tools of scikit-learn choose what to read by the methods an estimator has: the drop-in must
have the methods and attributes of sklearn's MLPClassifier that they probe, and no others."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier as SklearnMLP

from softgrad.sklearn import MLPClassifier


def test_no_decision_function_so_tools_read_predict_proba_as_with_sklearns_mlp():
    # CalibratedClassifierCV (and DecisionBoundaryDisplay, response_method="auto") read
    # decision_function wherever an estimator has one: the logits, not the probabilities
    assert hasattr(MLPClassifier(), "decision_function") == hasattr(
        SklearnMLP(), "decision_function"
    )
    assert not hasattr(MLPClassifier(), "decision_function")


def test_calibration_gives_sklearns_probabilities():
    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(8,), max_iter=2000, learning_rate_init=0.01, random_state=0)
    # in float64, with sklearn's random stream, both train the same weights to rounding
    ours = CalibratedClassifierCV(MLPClassifier(dtype=np.float64, **params), cv=3).fit(X, y)
    theirs = CalibratedClassifierCV(SklearnMLP(**params), cv=3).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)


def test_loss_is_named_as_sklearns():
    assert MLPClassifier().loss == SklearnMLP().loss == "log_loss"
    assert "loss" not in MLPClassifier().get_params()

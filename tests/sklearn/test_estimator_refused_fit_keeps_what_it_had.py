"""A fit refused for its arguments keeps the fitted estimator it was given: its network, its
bookkeeping and, for a warm start, what the next fit goes on from."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.sklearn import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_X = np.random.default_rng(0).standard_normal((80, 4))
_Y = np.arange(80) % 3


@pytest.mark.parametrize(
    "schedule", [lambda epoch: -0.01, lambda epoch: float("nan")], ids=["negative", "NaN"]
)
def test_a_fit_refused_for_its_schedules_first_rate_keeps_the_fitted_network(schedule):
    # refused when epoch 1 began, by the optimizer's lr: the network had been drawn anew and
    # the bookkeeping reset, so the estimator kept untrained weights (n_iter_ 100 -> 0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(_X, _Y)
    proba, n_iter = clf.predict_proba(_X), clf.n_iter_
    clf.set_params(lr_schedule=schedule)
    with pytest.raises((ValueError, TypeError), match=r"^MLPClassifier: lr_schedule\(0\), the"):
        clf.fit(_X, _Y)
    np.testing.assert_array_equal(clf.predict_proba(_X), proba)
    assert clf.n_iter_ == n_iter and len(clf.loss_curve_) == n_iter


def test_a_warm_fit_refused_for_its_validation_data_changes_no_layer():
    # the changed dropout was applied to the kept network (a Dropout inserted, its weights
    # renamed) before the validation data was refused, and early stopping's best weights were
    # put back under the old names: the next fit failed with KeyError '3.W'
    val = (_X[:20], _Y[:20])
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, early_stopping=True,
                        warm_start=True, n_iter_no_change=50, random_state=0)  # fmt: skip
    clf.fit(_X, _Y, validation_data=val)
    names = sorted(clf._model.named_params())
    clf.set_params(dropout=0.2)
    with pytest.raises(ValueError, match="has 3 features"):
        clf.fit(_X, _Y, validation_data=(_X[:10, :3], _Y[:10]))
    assert sorted(clf._model.named_params()) == names
    clf.set_params(learning_rate_init=1e-12, max_iter=1)  # an epoch that cannot improve
    clf.fit(_X, _Y, validation_data=val)
    assert sorted(clf._model.named_params()) == ["0.W", "0.b", "3.W", "3.b"]

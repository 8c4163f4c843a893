"""Arguments that scikit-learn's parameter constraints let through, checked when fit starts and
refused naming the estimator's own parameter (not an argument of softgrad.training.fit, which
the user never called), or accepted as sklearn accepts them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier as SkMLP

from softgrad.sklearn import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    return make_classification(
        n_samples=60, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )


def _clf(**params):
    params = {"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0, **params}
    return MLPClassifier(dtype=np.float64, **params)


@pytest.mark.parametrize(
    ("class_weight", "shown"),
    [
        ({0: -1.0, 1: 1.0, 2: 1.0}, "got -1.0 for class 0"),
        ({0: 1.0, 1: np.inf, 2: 1.0}, "got inf for class 1"),
        ({0: 1.0, 1: 1.0, 2: np.nan}, "got nan for class 2"),
        ({0: "a", 1: 1.0, 2: 1.0}, "got 'a' for class 0"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_class_weight_that_is_not_a_finite_weight_at_least_0_is_refused_naming_it(
    class_weight, shown, method
):
    X, y = _data()
    clf = _clf(class_weight=class_weight)
    kwargs = {"classes": [0, 1, 2]} if method == "partial_fit" else {}
    message = r"^MLPClassifier: class_weight must map each class to a finite weight >= 0; "
    with pytest.raises(ValueError, match=message + shown):
        getattr(clf, method)(X, y, **kwargs)
    assert not hasattr(clf, "coefs_")


def test_a_class_weight_of_0_for_every_class_of_y_is_refused_naming_it():
    X, y = _data()
    clf = _clf(class_weight={0: 0, 1: 0, 2: 0})
    with pytest.raises(ValueError, match=r"^MLPClassifier: class_weight must leave some sample"):
        clf.fit(X, y)
    # a block of one class weighted 0, as a stream brings it: refused the same way
    block = y == 1
    stream = _clf(class_weight={0: 1.0, 1: 0.0, 2: 1.0})
    with pytest.raises(ValueError, match=r"\{0: 1.0, 1: 0.0, 2: 1.0\} for the classes \[1\]"):
        stream.partial_fit(X[block], y[block], classes=[0, 1, 2])


@pytest.mark.parametrize("callbacks", [[1], [lambda logs: None, "stop"], (object(),)])
def test_callbacks_that_cannot_be_called_are_refused_before_training(callbacks):
    X, y = _data()
    clf = _clf(callbacks=callbacks)
    with pytest.raises(TypeError, match=r"^MLPClassifier: callbacks must hold callables or "):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")  # refused before the first epoch, not after it


def test_max_iter_true_trains_one_epoch_as_sklearn_does():
    # bool is an Integral to sklearn's constraints: max_iter=True is one epoch
    X, y = _data()
    sk = SkMLP(hidden_layer_sizes=(8,), max_iter=True, random_state=0).fit(X, y)
    ours = _clf(max_iter=True).fit(X, y)
    assert ours.n_iter_ == sk.n_iter_ == 1
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_warnings_point_at_the_callers_line(method):
    # fit and partial_fit run inside sklearn's _fit_context wrapper: one frame more to skip
    X, y = _data()
    clf = _clf(batch_size=500, max_iter=1)
    kwargs = {"classes": [0, 1, 2]} if method == "partial_fit" else {}
    with pytest.warns(UserWarning) as record:
        getattr(clf, method)(X, y, **kwargs)
    assert {w.filename for w in record} == {__file__}, [str(w.message) for w in record]

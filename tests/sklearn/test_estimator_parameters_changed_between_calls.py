"""Parameters changed with set_params between calls (warm_start, partial_fit), as a search API or a
user changes them: each is checked, and each either applies to the kept weights or is refused.

sklearn applies a changed ``activation`` to the kept weights (tests/sklearn/test_parity.py);
softgrad refuses what the kept weights cannot follow.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.utils._param_validation import InvalidParameterError

from softgrad.sklearn import MLPClassifier

# Fits of a few epochs never converge: ConvergenceWarning is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    return make_classification(
        n_samples=60, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )


def _clf(**params):
    params = {"hidden_layer_sizes": (8, 6), "max_iter": 3, "random_state": 0, **params}
    return MLPClassifier(dtype=np.float64, **params)


def _weights(est):
    return [w.copy() for w in est.coefs_ + est.intercepts_]


def _assert_same_weights(got, want):
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"array {index} of coefs_ + intercepts_")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("alpha", -1.0),
        ("learning_rate_init", -0.1),
        ("dropout", 1.5),
        ("solver", "lbfgs"),
        ("batch_size", 0),
        ("class_weight", "x"),
    ],
)
def test_partial_fit_checks_the_parameters_on_every_call(name, value):
    # sklearn's _fit_context checks them on the first call only; afterwards an invalid value
    # was trained on (momentum=5, dropout=1.5) or failed inside the stack under another name
    X, y = _data()
    clf = _clf().partial_fit(X, y, classes=[0, 1, 2])
    before = _weights(clf)
    clf.set_params(**{name: value})
    with pytest.raises(InvalidParameterError, match=f"^The '{name}' parameter of MLPClassifier"):
        clf.partial_fit(X, y)
    _assert_same_weights(_weights(clf), before)
    assert clf.t_ == len(y)


@pytest.mark.parametrize("sizes", [(8.5,), (8.0,), ("8",), (True,)])
def test_hidden_layer_sizes_must_hold_integers(sizes):
    # int() truncated 8.5 to 8 and parsed "8"; sklearn refuses them too
    X, y = _data()
    with pytest.raises(TypeError, match=r"^MLPClassifier: hidden_layer_sizes must hold integers"):
        _clf(hidden_layer_sizes=sizes).fit(X, y)
    with pytest.raises(TypeError):
        SkMLP(hidden_layer_sizes=sizes, max_iter=1).fit(X, y)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_a_changed_dtype_is_refused_where_training_continues(how):
    # it was ignored: training went on in the kept weights' dtype, whatever dtype said
    X, y = _data()
    clf = _clf(warm_start=True).fit(X, y)
    before = _weights(clf)
    clf.set_params(dtype=np.float32)
    message = r"^MLPClassifier: dtype must stay 'float64', the kept weights' dtype"
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y) if how == "warm_start" else clf.partial_fit(X, y)
    _assert_same_weights(_weights(clf), before)
    assert clf.set_params(warm_start=False).fit(X, y).coefs_[0].dtype == np.float32

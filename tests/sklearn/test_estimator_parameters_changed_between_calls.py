"""Parameters changed with set_params between calls (warm_start, partial_fit), as a search API or a
user changes them: each is checked, and each either applies to the kept weights or is refused.

sklearn applies a changed ``activation`` to the kept weights (tests/sklearn/test_parity.py);
softgrad applies its own ``dropout`` the same way, and refuses what the kept weights cannot follow.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.utils._param_validation import InvalidParameterError

from softgrad.nn import Dropout
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


@pytest.mark.parametrize(("before", "after"), [(0.0, 0.3), (0.3, 0.0), (0.2, 0.5)])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_a_changed_dropout_applies_to_the_kept_weights(how, before, after):
    # it was ignored: the network kept the Dropout layers of the first fit. The oracle is an
    # estimator built with the new rate around the same weights (from_sklearn); partial_fit
    # keeps its optimizer, so there the solver is SGD without momentum, which has no state
    X, y = _data()
    params = {"warm_start": True, "dropout": before}
    if how == "partial_fit":
        params.update(solver="sgd", momentum=0.0, learning_rate_init=0.1)
    clf = _clf(**params)
    clf.fit(X, y) if how == "warm_start" else clf.partial_fit(X, y, classes=[0, 1, 2])
    unchanged = copy.deepcopy(clf)
    oracle = MLPClassifier.from_sklearn(clf.to_sklearn(), dtype=np.float64, dropout=after)
    clf.set_params(dropout=after)
    for est in (clf, oracle, unchanged):
        est.fit(X, y) if how == "warm_start" else est.partial_fit(X, y)
    _assert_same_weights(_weights(clf), _weights(oracle))
    assert not np.array_equal(clf.coefs_[0], unchanged.coefs_[0])  # the rate mattered
    assert sum(isinstance(layer, Dropout) for layer in clf._model.layers) == (2 if after else 0)


# dropout=1e-300 is the identity with its Dropout layers in place: every float64 uniform u drawn is
# >= 1e-300 (but u == 0, one chance in 2**53), and the kept entries are scaled by 1 / (1 - 1e-300),
# which is 1.0
NO_DROP = 1e-300


@pytest.mark.parametrize(("turned", "before", "after"), [("off", 0.3, 0.0), ("on", 0.0, NO_DROP)])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_dropout_turned_on_or_off_in_partial_fit_keeps_the_optimizer_state(
    solver, turned, before, after
):
    # adding or removing the Dropout layers renames the Linear layers' parameters ("3.W" <->
    # "2.W"): Adam's moments and step counts, SGD's velocity, must follow them. The oracle
    # trains the same network, its layers left as they are: with dropout NO_DROP (turned off)
    # or 0 (turned on), the same arithmetic without a renaming. No shuffling: a dropout > 0
    # draws a mask generator from random_state before the batch order
    X, y = _data()
    clf = _clf(solver=solver, dropout=before, shuffle=False)
    clf.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    oracle = copy.deepcopy(clf).set_params(dropout=NO_DROP if turned == "off" else 0.0)
    clf.set_params(dropout=after)
    for _ in range(2):
        clf.partial_fit(X, y)
        oracle.partial_fit(X, y)
    _assert_same_weights(_weights(clf), _weights(oracle))
    assert clf.loss_curve_ == oracle.loss_curve_
    steps = {k: v for k, v in clf._optimizer.state_dict().items() if k.startswith("step.")}
    linears = (0, 2, 4) if turned == "off" else (0, 3, 6)
    assert steps == {f"step.{i}.{p}": 4 for i in linears for p in "Wb"}


def test_dropout_turned_on_under_early_stopping_keeps_the_best_weights():
    # a warm start keeps the best weights of the earlier fit, keyed by parameter name; when no
    # epoch of this fit beats them, they are put back at the end (a score of 1 is never beaten)
    X, y = _data()
    clf = _clf(warm_start=True, early_stopping=True, validation_fraction=0.2)
    best = _weights(clf.fit(X, y))  # early stopping restored its best epoch's weights
    clf.best_validation_score_ = 1.0
    clf.set_params(dropout=0.3).fit(X, y)
    assert len(clf.validation_scores_) == 6 and max(clf.validation_scores_) < 1.0
    _assert_same_weights(_weights(clf), best)


@pytest.mark.parametrize(("before", "after"), [(False, True), (True, False)])
def test_early_stopping_switched_between_warm_starts_restarts_the_stopping_rule(before, after):
    # sklearn's MLP fails here (validation_scores_ None has no append; best_loss_ None - tol).
    # The score and the loss do not compare: the new rule starts afresh, as in a first fit.
    X, y = _data()
    params = {"max_iter": 20, "tol": 10.0, "n_iter_no_change": 2, "validation_fraction": 0.3}
    clf = _clf(warm_start=True, early_stopping=before, **params).fit(X, y)
    assert clf._no_improvement_count == 3  # stopped: no epoch improved by tol after the first
    clf.set_params(early_stopping=after).fit(X, y)
    fresh = _clf(early_stopping=after, **params).fit(X, y)
    assert clf.n_iter_ == fresh.n_iter_ == 4  # one best epoch, then 3 without improvement
    if after:
        assert len(clf.validation_scores_) == 4
        assert clf.best_validation_score_ == max(clf.validation_scores_)
    else:
        assert clf.best_loss_ == min(clf.loss_curve_[-4:])


@pytest.mark.parametrize(
    ("start", "change"),
    [
        ({"learning_rate": "invscaling"}, {"learning_rate_init": 0.5}),
        ({"learning_rate": "invscaling"}, {"power_t": 0.9}),
        ({}, {"learning_rate": "invscaling"}),
        ({"tol": 10.0, "n_iter_no_change": 1}, {"learning_rate": "adaptive"}),
        (
            {"tol": 10.0, "n_iter_no_change": 1, "learning_rate": "adaptive"},
            {"learning_rate": "constant"},
        ),
    ],
)
def test_partial_fit_keeps_the_first_calls_learning_rate_settings_as_sklearn(start, change):
    # sklearn's optimizer keeps learning_rate, learning_rate_init and power_t from the first
    # partial_fit; softgrad read them again at every call (invscaling, adaptive), so a stream
    # whose settings changed in between trained another run than sklearn's
    X, y = _data()
    params = {"solver": "sgd", "learning_rate_init": 0.1, **start}
    curves = []
    for clf in (_clf(**params), SkMLP(hidden_layer_sizes=(8, 6), random_state=0, **params)):
        clf.partial_fit(X, y, classes=[0, 1, 2])
        clf.set_params(**change)
        for _ in range(5):
            clf.partial_fit(X, y)
        curves.append(np.array(clf.loss_curve_))
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-10)  # float64 both (_clf)

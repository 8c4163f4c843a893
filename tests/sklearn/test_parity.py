"""softgrad's MLPClassifier follows sklearn's MLPClassifier step for step (float64, same weights).

Both estimators start from the same weights (sklearn fits one epoch, the weights are copied with
from_sklearn), then both continue with warm_start on the same data without shuffling: any
difference in the update rules, the L2 penalty, sample weighting, the learning-rate schedule or
the stopping rules shows up in the loss curve and the weights.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP

from softgrad.sklearn import MLPClassifier

SETTINGS = [
    dict(solver="adam"),
    dict(solver="adam", alpha=0.5, learning_rate_init=0.01),
    dict(solver="sgd", learning_rate_init=0.05),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5, learning_rate_init=0.05),
    dict(solver="sgd", learning_rate="invscaling", power_t=0.3, learning_rate_init=0.2),
    dict(solver="sgd", learning_rate_init=0.05, activation="tanh", alpha=0.01),
    dict(solver="adam", activation="logistic", hidden_layer_sizes=(7, 5)),
    dict(solver="adam", activation="identity", batch_size=16),
]


def _data(n_classes, seed=0):
    return make_classification(
        n_samples=90, n_features=6, n_informative=4, n_classes=n_classes, random_state=seed
    )


def _pair(params, X, y, sample_weight=None):
    params = {"hidden_layer_sizes": (8,), "batch_size": 32, "shuffle": False, **params}
    sk = SkMLP(max_iter=1, random_state=0, **params)
    weighted = {} if sample_weight is None else {"sample_weight": sample_weight}
    with pytest.warns(ConvergenceWarning):  # sklearn warns after its single epoch
        sk.fit(X, y, **weighted)  # scikit-learn 1.6's MLP takes no sample_weight
    ours = MLPClassifier.from_sklearn(sk, dtype=np.float64)
    sk.set_params(warm_start=True, max_iter=6)
    ours.set_params(warm_start=True, max_iter=6)
    return sk, ours


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: "-".join(map(str, p.values())))
# 6 epochs never converge: both estimators warn, which is part of what is compared.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_training_matches_sklearn_step_for_step(params, n_classes):
    X, y = _data(n_classes)
    sk, ours = _pair(params, X, y)
    sk.fit(X, y)
    ours.fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    for mine, theirs in zip(
        ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_, strict=True
    ):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    assert (ours.n_iter_, ours.t_) == (sk.n_iter_, sk.t_)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 6 epochs, as above
@pytest.mark.skipif(
    "sample_weight" not in inspect.signature(SkMLP.fit).parameters,
    reason="scikit-learn's MLP takes sample_weight from 1.7",
)
def test_sample_weight_matches_sklearn():
    X, y = _data(3)
    weight = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    sk, ours = _pair(dict(solver="adam", alpha=0.1), X, y, sample_weight=weight)
    sk.fit(X, y, sample_weight=weight)
    ours.fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_tol_stopping_matches_sklearn(solver):
    # tol larger than any possible improvement: every epoch counts as "no improvement" (the
    # warm start keeps best_loss_ of the first epoch), so both stop after n_iter_no_change + 1
    # epochs, without ConvergenceWarning.
    X, y = _data(3)
    sk, ours = _pair(dict(solver=solver, tol=10.0, n_iter_no_change=3), X, y)
    sk.set_params(max_iter=50)
    ours.set_params(max_iter=50)
    sk.fit(X, y)
    ours.fit(X, y)
    assert ours.n_iter_ == sk.n_iter_ == 4
    assert ours.best_loss_ == pytest.approx(sk.best_loss_, rel=1e-10)


def test_adaptive_learning_rate_matches_sklearn():
    # sgd + adaptive: at each plateau the rate is divided by 5 until it drops to 1e-6
    X, y = _data(3)
    params = dict(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1)
    sk, ours = _pair(params, X, y)
    sk.set_params(max_iter=100)
    ours.set_params(max_iter=100)
    sk.fit(X, y)
    ours.fit(X, y)
    assert ours.n_iter_ == sk.n_iter_
    assert ours._optimizer.lr == pytest.approx(sk._optimizer.learning_rate)
    rates = np.array(ours.history_["learning_rate"][1:])  # [0]: the epoch sklearn trained
    assert rates[0] == ours.learning_rate_init
    assert set(np.round(rates[1:] / rates[:-1], 12)) <= {1.0, 0.2}


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam"),
        dict(solver="sgd", learning_rate_init=0.05, activation="logistic"),
        dict(solver="adam", early_stopping=True, validation_fraction=0.2, n_iter_no_change=3),
        dict(solver="sgd", early_stopping=True, learning_rate="adaptive", tol=0.05),
    ],
    ids=lambda p: "-".join(map(str, p.values())),
)
# 15 epochs may or may not converge: both estimators behave alike, which is what is compared.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_same_random_state_same_fit_as_sklearn(params, n_classes):
    # same random_state: same initial weights, validation split and batch order as sklearn
    X, y = _data(n_classes)
    common = dict(hidden_layer_sizes=(8,), batch_size=20, max_iter=15, random_state=3, **params)
    sk = SkMLP(**common).fit(X, y)
    ours = MLPClassifier(dtype=np.float64, **common).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    assert ours.validation_scores_ == sk.validation_scores_
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize(
    ("x_dtype", "dtype"),
    [(np.float64, np.float64), (np.float32, np.float32), (np.float64, np.float32)],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_saturated_outputs_report_sklearns_clipped_loss_and_stop_where_it_stops(
    n_classes, x_dtype, dtype
):
    # unscaled features of hundreds saturate the outputs at once: sklearn's log_loss clips
    # the probabilities to [eps, 1 - eps] of the dtype it trains in (X's: float32 stays), so a
    # sample costs at most -log(eps), 36.04 in float64; the unclipped loss read 292 and its tol
    # rule ran all 100 epochs against 7. softgrad's default float32 caps as sklearn on X does.
    X, y = _data(n_classes)
    X = (X * 300).astype(x_dtype)
    params = dict(hidden_layer_sizes=(16,), n_iter_no_change=5, max_iter=100, random_state=4)
    sk = SkMLP(**params).fit(X, y)
    ours = MLPClassifier(**params, dtype=dtype).fit(X, y)
    cap = -np.log(np.finfo(x_dtype).eps)
    assert max(sk.loss_curve_) > 0.5 * cap  # the clip matters here
    assert ours.n_iter_ == sk.n_iter_
    rtol = 1e-10 if dtype is np.float64 else 1e-4
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=rtol)


def test_partial_fit_invscaling_matches_sklearn_call_after_call():
    # sklearn's rate after each call is learning_rate_init / (t_ + 1) ** power_t, t_ the samples
    # seen over every call: each call's schedule starts from learning_rate_init, not from the
    # rate the previous call left (which would compound the decay call after call)
    X, y = _data(3)
    params = dict(
        hidden_layer_sizes=(6,),
        solver="sgd",
        learning_rate="invscaling",
        learning_rate_init=0.05,
        power_t=0.4,
        random_state=0,
    )
    sk, ours = SkMLP(**params), MLPClassifier(dtype=np.float64, **params)
    for call in range(1, 7):
        sk.partial_fit(X, y, classes=[0, 1, 2])
        ours.partial_fit(X, y, classes=[0, 1, 2])
        assert ours.t_ == sk.t_ == call * len(y)
        expected = 0.05 / (sk.t_ + 1) ** 0.4
        assert sk._optimizer.learning_rate == pytest.approx(expected, rel=1e-12)
        assert ours._optimizer.lr == pytest.approx(expected, rel=1e-12), f"call {call}"
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
# 3-epoch warm-start fits never converge: both estimators warn alike
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_changed_activation_applies_to_the_kept_weights_like_sklearn(how, solver):
    # sklearn keeps the weights and uses the activation set now, in predict and in training
    X, y = _data(3)
    params = dict(hidden_layer_sizes=(8, 5), solver=solver, max_iter=3, random_state=0)
    sk = SkMLP(warm_start=True, **params)
    ours = MLPClassifier(dtype=np.float64, warm_start=True, **params)
    for est in (sk, ours):
        est.fit(X, y)
        est.set_params(activation="tanh")
    weights = [w.copy() for w in ours.coefs_ + ours.intercepts_]
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12)
    for before, after in zip(weights, ours.coefs_ + ours.intercepts_, strict=True):
        np.testing.assert_array_equal(after, before)  # predicting changed no weight
    for est in (sk, ours):
        if how == "warm_start":
            est.fit(X, y)
        else:
            est.partial_fit(X, y)
            est.partial_fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        ours.to_sklearn().predict_proba(X), sk.predict_proba(X), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("early_stopping", [False, True])
def test_the_fitted_losses_are_numpy_floats_as_sklearns(early_stopping):
    # code written for scikit-learn calls clf.loss_.item(), which a Python float has not
    X, y = _data(3)
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    params["early_stopping"] = early_stopping
    fitted = []
    for cls in (SkMLP, MLPClassifier):
        with pytest.warns(ConvergenceWarning):
            fitted.append(cls(**params).fit(X, y))
    sk, ours = fitted
    assert type(ours.loss_) is type(sk.loss_) is np.float64
    assert [type(v) for v in ours.loss_curve_] == [type(v) for v in sk.loss_curve_]
    assert type(ours.best_loss_) is type(sk.best_loss_)
    assert ours.loss_.item() == ours.loss_curve_[-1]

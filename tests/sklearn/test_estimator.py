"""Behaviour of softgrad.sklearn.MLPClassifier beyond sklearn's parity: labels, outputs, extras."""

from __future__ import annotations

import copy
import pickle
import re
import warnings

import numpy as np
import pytest
from scipy.special import log_softmax
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight

from softgrad.errors import DivergenceError
from softgrad.sklearn import MLPClassifier

# Most fits here are deliberately short (a few epochs) and never converge: ConvergenceWarning is
# expected and is checked explicitly in test_convergence_warning_at_max_iter.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_classes=3, n_samples=120, seed=0):
    return make_classification(
        n_samples=n_samples,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )


def _clf(**params):
    return MLPClassifier(
        **{"hidden_layer_sizes": (10,), "max_iter": 5, "random_state": 0, **params}
    )


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([3, 7, 11])])
def test_string_and_non_contiguous_labels(labels):
    X, y = _data(3)
    y_named = labels[y]
    clf = _clf(max_iter=200, learning_rate_init=0.01).fit(X, y_named)
    np.testing.assert_array_equal(clf.classes_, labels)
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, y_named) > 0.8
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict(X), labels[np.argmax(proba, axis=1)])


@pytest.mark.parametrize("container", ["object array", "pandas Series"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_object_string_labels_give_str_classes_like_sklearn(container, method):
    # sklearn types classes_ with unique_labels: strings held as objects (pandas) give '<U3'
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = _data(3)
    names = np.array(["cat", "dog", "emu"], dtype=object)
    y_named = names[y]
    if container == "pandas Series":
        y_named = pytest.importorskip("pandas").Series(y_named)
    fitted = []
    for est in (SkMLP(hidden_layer_sizes=(10,), max_iter=5, random_state=0), _clf()):
        if method == "fit":
            fitted.append(est.fit(X, y_named))
        else:
            fitted.append(est.partial_fit(X, y_named, classes=names))
    sk, ours = fitted
    assert sk.classes_.dtype == ours.classes_.dtype == np.dtype("<U3")
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    assert ours.predict(X).dtype == sk.predict(X).dtype == np.dtype("<U3")
    ours.partial_fit(X, y_named)  # later calls compare the labels with the str classes_
    assert ours.score(X, y_named) > 0


def test_binary_uses_one_logistic_output_like_sklearn():
    X, y = _data(2)
    clf = _clf().fit(X, np.array(["no", "yes"])[y])
    assert (clf.n_outputs_, clf.out_activation_, clf.n_layers_) == (1, "logistic", 3)
    assert [c.shape for c in clf.coefs_] == [(5, 10), (10, 1)]
    logits = clf.to_model().decision_function(X)  # [0, z]: softmax([0, z]) = sigmoid(z)
    assert logits.shape == (120, 2) and not logits[:, 0].any()
    scores = logits[:, 1]
    np.testing.assert_array_equal(clf.predict(X), np.where(scores > 0, "yes", "no"))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores.astype(float))), rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_multiclass_outputs():
    X, y = _data(4, n_samples=160)
    clf = _clf().fit(X, y)
    logits = clf.to_model().decision_function(X)
    assert logits.shape == (160, 4) and clf.out_activation_ == "softmax"
    np.testing.assert_allclose(clf.predict_log_proba(X), log_softmax(logits, axis=1), rtol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_log_proba_finite_where_proba_saturates(n_classes):
    X, y = _data(n_classes)
    clf = _clf().fit(X, y)
    clf.coefs_[-1][...] *= 1e4  # logits of order 1e4: exp underflows to probabilities 0
    assert np.any(clf.predict_proba(X) == 0)
    log_proba = clf.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba))
    logits = clf.to_model().decision_function(X).astype(np.float64)  # two classes: [0, z]
    # atol: log-probabilities of ~-1e-35 (float32) against the float64 reference's exact 0.0
    np.testing.assert_allclose(log_proba, log_softmax(logits, axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("as_given", [np.asarray, lambda Y: Y.tolist()], ids=["array", "lists"])
def test_multilabel_is_rejected_clearly(as_given):
    X, _ = _data(3)
    Y = np.random.default_rng(0).integers(0, 2, size=(120, 3))
    with pytest.raises(ValueError, match=r"got shape \(120, 3\) \(multilabel"):
        _clf().fit(X, as_given(Y))


@pytest.mark.parametrize("labels", [["a", 1], [1.5, "b"], [2, "c"]])
def test_mixed_str_and_int_labels_are_refused_naming_both(labels):
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.array(labels * 10, dtype=object)
    first, second = labels
    expected = (
        f"MLPClassifier: y must hold labels of one kind, all strings or all numbers; got "
        f"{type(first).__name__} {first!r} and {type(second).__name__} {second!r}"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        MLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="classes must hold labels of one kind"):
        classes = np.array(labels, dtype=object)
        text = next(label for label in labels if isinstance(label, (str, bytes)))
        MLPClassifier().partial_fit(X, np.array([text] * 20), classes=classes)


def test_lbfgs_and_bad_parameters_are_rejected():
    X, y = _data(3)
    with pytest.raises(ValueError, match=r"lbfgs.*from_sklearn"):
        _clf(solver="lbfgs").fit(X, y)
    # scikit-learn's own checks and messages (its _parameter_constraints / _fit_context)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be > 0, got \[10, 0\]"):
        _clf(hidden_layer_sizes=(10, 0)).fit(X, y)
    with pytest.raises(ValueError, match="'activation' parameter of MLPClassifier must be"):
        _clf(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match=r"'momentum' parameter .* range \[0.0, 1.0\]. Got 1.5"):
        _clf(momentum=1.5).fit(X, y)
    with pytest.raises(ValueError, match="'dtype' parameter of MLPClassifier must be"):
        _clf(dtype=np.int32).fit(X, y)
    with pytest.raises(ValueError, match="'n_iter_no_change' parameter"):
        _clf(n_iter_no_change=0.5).fit(X, y)


def test_max_fun_is_accepted_and_validated_like_sklearn():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = _data(3)
    sk = SkMLP(hidden_layer_sizes=(10,), max_iter=2, max_fun=500, random_state=0)
    assert set(sk.get_params()) <= set(MLPClassifier().get_params())
    assert MLPClassifier().get_params()["max_fun"] == SkMLP().get_params()["max_fun"] == 15000
    ours = MLPClassifier(**sk.get_params())
    assert ours.max_fun == 500 and clone(ours).max_fun == 500
    assert ours.set_params(max_fun=7).max_fun == 7
    assert MLPClassifier.from_sklearn(sk.fit(X, y)).max_fun == 500
    assert _clf(max_fun=7).fit(X, y).to_sklearn().max_fun == 7
    search = GridSearchCV(_clf(max_iter=2), {"max_fun": [100, 200]}, cv=2).fit(X, y)
    assert search.best_params_["max_fun"] in (100, 200)
    # L-BFGS's budget only: the adam fit does not depend on it
    np.testing.assert_array_equal(_clf(max_fun=1).fit(X, y).coefs_[0], _clf().fit(X, y).coefs_[0])
    with pytest.raises(ValueError, match=r"'max_fun' parameter of MLPClassifier must be .* Got 0"):
        _clf(max_fun=0).fit(X, y)


def test_negative_sample_weight_and_a_single_class_are_refused_where_sklearn_fits():
    # documented differences (class docstring, docs/sklearn.md): softgrad's errors name the problem
    X, y = _data(3)
    weight = np.ones(len(y))
    weight[0] = -0.5
    with pytest.raises(ValueError, match=r"Negative values in data passed to `sample_weight`"):
        _clf().fit(X, y, sample_weight=weight)
    one_class = r"^MLPClassifier: y must hold at least 2 classes; got 1 class \(\[0\]\)"
    with pytest.raises(ValueError, match=one_class):
        _clf().fit(X, np.zeros(len(y), dtype=int))
    with pytest.raises(ValueError, match=one_class):
        _clf().partial_fit(X, np.zeros(len(y), dtype=int), classes=[0])


def test_not_fitted_error():
    with pytest.raises(NotFittedError):
        _clf().predict(np.zeros((2, 5)))


def test_convergence_warning_at_max_iter():
    X, y = _data(3)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        _clf(max_iter=3).fit(X, y)


def test_dtype_float32_default_and_float64():
    X, y = _data(3)
    assert _clf().fit(X, y).coefs_[0].dtype == np.float32
    clf64 = _clf(dtype=np.float64).fit(X, y)
    assert clf64.coefs_[0].dtype == np.float64 and clf64.predict_proba(X).dtype == np.float64


def test_verbose_prints_like_sklearn(capsys):
    X, y = _data(3)
    _clf(verbose=True, max_iter=2, early_stopping=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert lines[1].startswith("Validation score: ")
    assert lines[2].startswith("Iteration 2, loss = ")


def test_early_stopping_keeps_best_weights_and_history():
    X, y = _data(3, n_samples=200)
    snapshots = []
    clf = _clf(
        early_stopping=True,
        max_iter=30,
        n_iter_no_change=30,
        learning_rate_init=0.05,
        validation_fraction=0.2,
        callbacks=[lambda logs: snapshots.append(logs["estimator"].coefs_[0].copy())],
    )
    clf.fit(X, y)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ == 30 and clf.best_validation_score_ == max(scores)
    assert clf.best_loss_ is None
    assert clf.history_["val_score"] == scores
    assert all(loss > 0 for loss in clf.history_["val_loss"])
    # the weights after fit are those of the first epoch with the best validation score
    np.testing.assert_array_equal(clf.coefs_[0], snapshots[int(np.argmax(scores))])


def test_validation_data_gives_validation_loss():
    X, y = _data(3, n_samples=200)
    X_val, y_val = _data(3, n_samples=60, seed=1)
    clf = _clf(max_iter=3, dtype=np.float64).fit(X, y, validation_data=(X_val, y_val))
    assert clf.validation_scores_ is None  # no early stopping: sklearn's attribute stays None
    assert clf.history_["val_loss"][-1] == pytest.approx(
        log_loss(y_val, clf.predict_proba(X_val)), rel=1e-9
    )
    assert clf.history_["val_score"][-1] == pytest.approx(clf.score(X_val, y_val))


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0, 2: 0.5}])
def test_class_weight_equals_sample_weight(class_weight):
    X, y = _data(3)
    y = np.where(np.arange(len(y)) < 80, y, 0)  # unbalanced classes
    a = _clf(class_weight=class_weight, dtype=np.float64).fit(X, y)
    b = _clf(dtype=np.float64).fit(X, y, sample_weight=compute_sample_weight(class_weight, y))
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-12)


def test_label_smoothing_bounds_confidence():
    X, y = _data(3)
    sharp = _clf(max_iter=300, learning_rate_init=0.05).fit(X, y)
    smooth = _clf(max_iter=300, learning_rate_init=0.05, label_smoothing=0.3).fit(X, y)
    # the smoothed optimum puts 1 - 0.3 + 0.1 = 0.8 on the true class, the plain one 1.0
    sharp_confidence = np.median(sharp.predict_proba(X).max(axis=1))
    smooth_confidence = np.median(smooth.predict_proba(X).max(axis=1))
    assert smooth_confidence < 0.8 < 0.99 < sharp_confidence


def test_dropout_is_seeded_and_off_at_prediction():
    X, y = _data(3)
    a = _clf(dropout=0.5).fit(X, y)
    b = _clf(dropout=0.5).fit(X, y)
    c = _clf(dropout=0.0).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.allclose(a.coefs_[0], c.coefs_[0])
    # off at prediction: the probabilities are those of the weights alone, relu then softmax
    hidden = np.maximum(X @ a.coefs_[0].astype(np.float64) + a.intercepts_[0], 0.0)
    expected = np.exp(log_softmax(hidden @ a.coefs_[1].astype(np.float64) + a.intercepts_[1], 1))
    eps = np.finfo(a.coefs_[0].dtype).eps
    np.testing.assert_allclose(a.predict_proba(X), expected, rtol=64 * eps, atol=64 * eps)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_lr_schedule_sets_each_epoch(solver):
    X, y = _data(3)
    clf = _clf(solver=solver, lr_schedule=lambda epoch: 0.1 * 0.5**epoch, max_iter=4).fit(X, y)
    assert clf.history_["learning_rate"] == [0.1, 0.05, 0.025, 0.0125]


def test_lr_schedule_from_softgrad_optim():
    from softgrad.optim import SGD, CosineLR

    X, y = _data(3)
    schedule = CosineLR(SGD(lr=0.2), t_max=4)
    clf = _clf(lr_schedule=schedule, max_iter=4).fit(X, y)
    # lr(e) = 0.2 * (1 + cos(pi * e / 4)) / 2
    expected = [0.2 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(clf.history_["learning_rate"], expected, rtol=1e-12)


def test_lr_schedule_of_inverse_scaling_decays_each_epoch():
    # its lr_at ignored the epoch: every epoch trained at 0.1
    from softgrad.optim import SGD, InvScalingLR

    X, y = _data(3)
    schedule = InvScalingLR(SGD(lr=0.1), power_t=0.5, samples_per_epoch=len(X))
    clf = _clf(lr_schedule=schedule, max_iter=4).fit(X, y)
    expected = [0.1 / (e * len(X) + 1) ** 0.5 for e in range(4)]
    np.testing.assert_allclose(clf.history_["learning_rate"], expected, rtol=1e-12)


def test_callbacks_receive_logs_and_can_stop(recwarn):
    X, y = _data(3)
    seen = []

    class StopAtThree:
        def on_epoch_end(self, logs):
            return logs["epoch"] == 3

    clf = _clf(max_iter=10, callbacks=[lambda logs: seen.append(logs["loss"]), StopAtThree()])
    clf.fit(X, y)
    assert clf.n_iter_ == 3 and seen == clf.loss_curve_
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def _call_through_ctrl_c(method, *args):
    """``method(*args)``; a KeyboardInterrupt leaving it fails the test (not the whole run)."""
    try:
        return method(*args)
    except KeyboardInterrupt:
        pytest.fail(f"KeyboardInterrupt propagated out of {method.__name__}")


@pytest.mark.parametrize(
    ("method", "interrupted_step", "curve_length"),
    # 3 batches an epoch. fit starts afresh: 2 epochs done, then epoch 3, batch 2. partial_fit
    # continues the first call's epoch: interrupted in its batch 2, it adds none
    [("fit", 8, 2), ("partial_fit", 2, 1)],
)
def test_ctrl_c_ends_training_with_a_warning_and_keeps_the_model(
    method, interrupted_step, curve_length, monkeypatch
):
    # as sklearn: KeyboardInterrupt (here from an optimizer step) warns "Training interrupted
    # by user." and fit / partial_fit return the estimator with the weights trained so far
    from softgrad.optim import Adam

    X, y = _data(3)
    clf = _clf(max_iter=10, batch_size=40)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    weights = [w.copy() for w in clf.coefs_]
    steps = []
    step = Adam.step

    def step_until_interrupted(self, params, grads):
        steps.append(1)
        if len(steps) == interrupted_step:
            raise KeyboardInterrupt
        step(self, params, grads)

    monkeypatch.setattr(Adam, "step", step_until_interrupted)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _call_through_ctrl_c(getattr(clf, method), X, y) is clf
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "Training interrupted by user.")
    ]
    # the interrupted epoch is not recorded; the steps taken before it are kept
    assert len(steps) == interrupted_step
    assert len(clf.loss_curve_) == curve_length
    assert not np.array_equal(clf.coefs_[0], weights[0])
    assert np.isfinite(clf.predict_proba(X)).all()


def test_ctrl_c_under_early_stopping_restores_the_best_weights():
    X, y = _data(3)
    seen = []

    def interrupt_at_seven(logs):
        seen.append([w.copy() for w in logs["estimator"].coefs_])
        if logs["epoch"] == 7:
            raise KeyboardInterrupt

    clf = _clf(
        max_iter=20,
        early_stopping=True,
        n_iter_no_change=50,
        learning_rate_init=0.01,
        random_state=1,
        callbacks=[interrupt_at_seven],
    )
    with pytest.warns(UserWarning, match=r"^Training interrupted by user\.$"):
        _call_through_ctrl_c(clf.fit, X, y)
    best = int(np.argmax(clf.validation_scores_))  # the first epoch with the best score
    assert len(clf.validation_scores_) == 7 and best < 6  # so restoring changes the weights
    for restored, kept in zip(clf.coefs_, seen[best], strict=True):
        np.testing.assert_array_equal(restored, kept)
    assert not np.array_equal(clf.coefs_[0], seen[-1][0])


def test_partial_fit():
    X, y = _data(3)
    clf = _clf()
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    for _ in range(3):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 4 and clf.t_ == 80 + 3 * 120
    with pytest.raises(ValueError, match="labels in classes_"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="early_stopping"):
        _clf(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_continues():
    X, y = _data(3)
    clf = _clf(warm_start=True, max_iter=3).fit(X, y)
    first = clf.coefs_[0].copy()
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 6 and not np.array_equal(first, clf.coefs_[0])
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X, np.where(y == 2, 1, y))


def test_an_invalid_activation_set_after_fit_is_refused_at_predict():
    X, y = _data(3)
    clf = _clf().fit(X, y).set_params(activation="gelu")
    with pytest.raises(ValueError, match=r"^MLPClassifier: activation must be one of .*'gelu'"):
        clf.predict(X)


def test_fit_is_reproducible_and_refit_restarts():
    X, y = _data(3)
    clf = _clf()
    a = clf.fit(X, y).predict_proba(X)
    b = clf.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_and_training_after_it():
    X, y = _data(3)
    clf = _clf(warm_start=True).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    clone.fit(X, y)  # the weights are live views again: training moves them
    assert not np.array_equal(clone.coefs_[0], clf.coefs_[0])


def test_divergence_names_epoch_and_batch():
    X, y = _data(3)
    with pytest.raises(DivergenceError, match="learning_rate_init") as info:
        _clf(solver="sgd", learning_rate_init=1e30, batch_size=40).fit(X * 1e18, y)
    assert info.value.epoch >= 1 and 1 <= info.value.batch <= 3


@pytest.mark.parametrize(
    ("scale", "solver", "learning_rate_init", "limit_factor", "rule"),
    [
        # a NaN loss
        (1e18, "sgd", 1e30, 20.0, r"the training loss must be finite; got nan"),
        # a finite loss that grows: softgrad's rule fired, not the finite one. Each sample's
        # loss is at most -log(eps) as sklearn reports it (15.9 in float32), below 20 x log(3):
        # the rule's factor is lowered so that a growing loss reaches it
        (1e2, "sgd", 0.5, 1.01, r"the mean training loss of the epoch so far must stay below"),
    ],
)
def test_divergence_message_states_the_rule_that_fired(
    scale, solver, learning_rate_init, limit_factor, rule, monkeypatch
):
    from softgrad.training import divergence

    monkeypatch.setattr(divergence, "LIMIT_FACTOR", limit_factor)
    X, y = _data(3)
    clf = _clf(solver=solver, learning_rate_init=learning_rate_init, batch_size=40)
    with pytest.raises(DivergenceError) as info:
        clf.fit(X * scale, y)
    message = str(info.value)
    assert re.match(
        rf"MLPClassifier: training diverged in epoch 1, batch \d: {rule}.*"
        rf"lower learning_rate_init, now {re.escape(repr(learning_rate_init))}",
        message,
    ), message
    assert info.value.reason == info.value.__cause__.reason and info.value.reason in message
    if "below" in rule:
        assert "finite" not in message


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data(3)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    clf = _clf().fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.to_sklearn().feature_names_in_.tolist() == list(frame.columns)


@pytest.mark.parametrize("shuffle", [True, False])
def test_sparse_input_trains_like_dense(shuffle):
    from scipy import sparse

    X, y = _data(3)
    X[np.abs(X) < 0.8] = 0.0  # mostly zeros, as sparse data is
    dense = _clf(dtype=np.float64, shuffle=shuffle).fit(X, y)
    csr = _clf(dtype=np.float64, shuffle=shuffle).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(csr.loss_curve_, dense.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(
        csr.predict_proba(sparse.csc_matrix(X)), dense.predict_proba(X), rtol=1e-9
    )


def test_coefs_and_intercepts_are_assignable():
    # scikit-learn's own test_mlp.py::test_fit: weights set by hand, then partial_fit
    X = np.array([[0.6, 0.8, 0.7]])
    y = np.array([0])
    mlp = MLPClassifier(
        solver="sgd",
        learning_rate_init=0.1,
        alpha=0.1,
        activation="logistic",
        random_state=1,
        max_iter=1,
        hidden_layer_sizes=2,
        momentum=0,
    )
    mlp.coefs_ = [0] * 2
    mlp.intercepts_ = [0] * 2
    mlp.n_outputs_ = 1
    mlp.coefs_[0] = np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]])
    mlp.coefs_[1] = np.array([[0.1], [0.2]])
    mlp.intercepts_[0] = np.array([0.1, 0.1])
    mlp.intercepts_[1] = np.array([1.0])
    mlp.n_features_in_ = 3
    mlp.n_iter_ = 0
    mlp.n_layers_ = 3
    mlp.out_activation_ = "logistic"
    mlp.t_ = 0
    mlp.best_loss_ = np.inf
    mlp.loss_curve_ = []
    mlp._no_improvement_count = 0
    mlp.partial_fit(X, y, classes=[0, 1])
    # sklearn's hand-worked weights after the step (its test's comments), and its probability
    np.testing.assert_allclose(
        mlp.coefs_[0],
        [[0.098, 0.195756], [0.2956664, 0.096008], [0.4939998, -0.002244]],
        atol=1e-3,
    )
    np.testing.assert_allclose(mlp.coefs_[1], [[0.04706], [0.154089]], atol=1e-3)
    np.testing.assert_allclose(mlp.intercepts_[0], [0.098333, 0.09626], atol=1e-3)
    np.testing.assert_allclose(mlp.intercepts_[1], [0.9235], atol=1e-3)
    assert mlp.predict_proba(X)[0, 1] == pytest.approx(0.739, abs=1e-3)
    # assigned after fitting, the arrays replace the live weights at the next prediction
    mlp.coefs_ = [np.zeros((3, 2)), np.zeros((2, 1))]
    z = mlp.intercepts_[1][0]
    np.testing.assert_allclose(mlp.predict_proba(X)[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-6)


def test_assigning_one_layer_of_coefs_or_intercepts_writes_into_the_network():
    # sklearn users replace a layer with clf.coefs_[i] = W: a zero output layer predicts 1/C
    X, y = _data(3)
    clf = _clf().fit(X, y)
    clf.coefs_[-1] = np.zeros((10, 3))  # float64 into the float32 network: converted
    clf.intercepts_[-1] = np.zeros(3, dtype=int)
    assert clf.coefs_[-1].dtype == np.float32 and not clf.coefs_[-1].any()
    np.testing.assert_allclose(clf.predict_proba(X), np.full((len(X), 3), 1 / 3), rtol=1e-6)
    first = np.arange(50.0).reshape(5, 10) / 50
    clf.coefs_[:1] = [first]
    np.testing.assert_array_equal(clf.coefs_[0], first.astype(np.float32))
    clf.partial_fit(X, y)  # training continues from the assigned weights
    assert clf.coefs_[-1].any()


def test_assigning_one_layer_refuses_what_the_network_cannot_hold():
    X, y = _data(3)
    clf = _clf().fit(X, y)
    before = [w.copy() for w in clf.coefs_]
    with pytest.raises(ValueError, match=r"coefs_\[1\] must have shape \(10, 3\); got \(10, 4\)"):
        clf.coefs_[-1] = np.zeros((10, 4))
    with pytest.raises(ValueError, match=r"intercepts_\[0\] must be numeric; got dtype '<c16'"):
        clf.intercepts_[0] = np.zeros(10, dtype=complex)
    with pytest.raises(ValueError, match=r"coefs_\[0\] must fit in float32"):
        clf.coefs_[0] = np.full((5, 10), 1e300)
    with pytest.raises(ValueError, match=r"must be given 2 arrays, one per layer; got 1"):
        clf.coefs_[:] = [np.zeros((5, 10))]
    with pytest.raises(IndexError):
        clf.coefs_[2] = np.zeros((10, 3))
    for change in (lambda c: c.append(c[0]), lambda c: c.pop(), lambda c: c.reverse()):
        with pytest.raises(TypeError, match=r"coefs_ must keep one array per layer"):
            change(clf.coefs_)
    for kept, now in zip(before, clf.coefs_, strict=True):
        np.testing.assert_array_equal(now, kept)  # nothing was written
    copied = copy.deepcopy(clf.coefs_)  # a detached plain list, as copies of sklearn's
    assert type(copied) is list and copied[0] is not clf.coefs_[0]
    np.testing.assert_array_equal(copied[0], clf.coefs_[0])


@pytest.mark.parametrize("n_iter_no_change", [np.inf, 2.5, 1])
def test_n_iter_no_change_accepts_any_real_at_least_one(n_iter_no_change):
    X, y = _data(3)
    # tol above any improvement: every epoch counts as no improvement (the first sets best)
    clf = _clf(tol=100.0, n_iter_no_change=n_iter_no_change, max_iter=8)
    clf.fit(X, y)
    expected = 8 if np.isinf(n_iter_no_change) else int(np.floor(n_iter_no_change)) + 2
    assert clf.n_iter_ == expected


def test_from_sklearn_keeps_the_dtype():
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = _data(3)
    sk = SkMLP(hidden_layer_sizes=(7,), max_iter=30, random_state=0).fit(X, y)
    assert sk.coefs_[0].dtype == np.float64
    ours = MLPClassifier.from_sklearn(sk)
    assert ours.coefs_[0].dtype == np.float64 and np.dtype(ours.dtype) == np.float64
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-12, atol=1e-15)
    sk32 = SkMLP(hidden_layer_sizes=(7,), max_iter=30, random_state=0).fit(X.astype(np.float32), y)
    assert MLPClassifier.from_sklearn(sk32).coefs_[0].dtype == np.float32
    assert MLPClassifier.from_sklearn(sk, dtype=np.float32).coefs_[0].dtype == np.float32


def test_a_float64_value_beyond_float32_is_refused_not_trained_on_as_inf():
    # refused before validate_data converts to the model's dtype (where 1e300 would become inf
    # with a RuntimeWarning), naming the row; no warning leaks (filterwarnings = error)
    X = np.random.default_rng(0).random((20, 3))
    X[3, 1] = 1e300
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"^MLPClassifier: X must fit in float32 .* in row 3"):
        MLPClassifier(max_iter=2).fit(X, y)

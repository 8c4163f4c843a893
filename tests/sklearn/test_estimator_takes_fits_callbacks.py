"""The estimator's ``callbacks`` take fit's callbacks too: a softgrad.training.Callback is
called as softgrad.training.fit calls it (every hook, the TrainState), not with the logs dict of
the estimator's own kind, which it cannot read."""

from __future__ import annotations

import warnings

import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from softgrad.sklearn import MLPClassifier
from softgrad.training import Callback, EarlyStopping, TrainState


def _data():
    return make_classification(
        n_samples=100, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )


def _clf(**params):
    defaults = {"hidden_layer_sizes": (8,), "max_iter": 4, "batch_size": 16, "random_state": 0}
    return MLPClassifier(**{**defaults, **params})


class Recorder(Callback):
    """Every hook it hears, with what the state said then."""

    def __init__(self, clf_box=None):
        self.calls = []
        self.clf_box = clf_box

    def on_train_begin(self, state):
        self.calls.append(("train_begin", state.epoch))

    def on_epoch_begin(self, state):
        self.calls.append(("epoch_begin", state.epoch))

    def on_epoch_end(self, state):
        assert isinstance(state, TrainState)
        curve = len(self.clf_box[0].loss_curve_) if self.clf_box else None
        self.calls.append(("epoch_end", state.epoch, state.logs["train_loss"], curve))

    def on_train_end(self, state):
        self.calls.append(("train_end", state.epoch))


def test_a_callback_of_fits_kind_hears_every_hook_with_the_train_state():
    X, y = _data()
    box = []
    recorder = Recorder(box)
    clf = _clf(callbacks=[recorder])
    box.append(clf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    ends = [call for call in recorder.calls if call[0] == "epoch_end"]
    assert recorder.calls[0] == ("train_begin", 0)
    assert recorder.calls[-1] == ("train_end", 4)
    assert [call[1] for call in ends] == [1, 2, 3, 4]
    # the estimator has taken each epoch before the callback hears of it
    assert [call[3] for call in ends] == [1, 2, 3, 4]
    assert [call[2] for call in ends] == clf.loss_curve_
    assert [c[1] for c in recorder.calls if c[0] == "epoch_begin"] == [1, 2, 3, 4]


def test_callbacks_of_both_kinds_in_one_list():
    X, y = _data()
    recorder, logs_seen = Recorder(), []
    clf = _clf(callbacks=[logs_seen.append, recorder])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert [logs["epoch"] for logs in logs_seen] == [1, 2, 3, 4]
    assert all(logs["estimator"] is clf for logs in logs_seen)
    assert [c[1] for c in recorder.calls if c[0] == "epoch_end"] == [1, 2, 3, 4]


def test_on_epoch_end_returning_true_stops_without_a_convergence_warning():
    class StopAtTwo(Callback):
        def on_epoch_end(self, state):
            return state.epoch == 2

    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = _clf(max_iter=10, callbacks=[StopAtTwo()]).fit(X, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2 and clf.t_ == 2 * len(X)


def test_on_batch_end_returning_true_stops_mid_epoch_and_t_counts_the_samples_trained_on():
    class StopAfterThreeBatches(Callback):
        def on_batch_end(self, state):
            return state.batch == 3

    X, y = _data()
    clf = _clf(max_iter=10, callbacks=[StopAfterThreeBatches()]).fit(X, y)
    # sklearn's t_ is the number of samples trained on: three batches of 16, not the epoch's 100
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 1 and clf.t_ == 3 * 16


def test_each_partial_fit_call_is_one_run_of_fits_protocol():
    X, y = _data()
    recorder = Recorder()
    clf = _clf(callbacks=[recorder])
    clf.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    assert [c[:2] for c in recorder.calls] == [
        ("train_begin", 0),
        ("epoch_begin", 1),
        ("epoch_end", 1),
        ("train_end", 1),
    ] * 2


def test_fits_early_stopping_rule_is_refused_naming_the_estimators_own():
    X, y = _data()
    clf = _clf(callbacks=[EarlyStopping(patience=2)])
    with pytest.raises(
        TypeError,
        match=r"^MLPClassifier: callbacks\[0\] must be a callable or an object with an "
        r"on_epoch_end method; got EarlyStopping\(.*\), which is fit's early_stopping rule",
    ):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")

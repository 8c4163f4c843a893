"""Shared by the estimator tests that compare two ways of feeding the same data."""

from __future__ import annotations

import numpy as np
import pytest


def _train(clf, how: str, X, y) -> dict:
    """Train ``clf`` on (X, y) ``how`` ("fit", "partial_fit" on two halves, "validation_data"
    with the second half, "sample_weight"), then everything it tells about (X, y) and its own
    training."""
    half = len(X) // 2
    if how == "partial_fit":
        clf.partial_fit(X[:half], y[:half], classes=[0, 1, 2]).partial_fit(X[half:], y[half:])
    elif how == "validation_data":
        clf.fit(X[:half], y[:half], validation_data=(X[half:], y[half:]))
    elif how == "sample_weight":
        clf.fit(X, y, sample_weight=np.linspace(0.5, 2.0, len(X)))
    else:
        clf.fit(X, y)
    return {
        "weights": [w.copy() for w in clf.coefs_ + clf.intercepts_],
        "loss_curve_": np.array(clf.loss_curve_),
        "predict_proba": clf.predict_proba(X),
        "predict_log_proba": clf.predict_log_proba(X),
        "predict": clf.predict(X),
        "score": np.array(clf.score(X, y)),
    }


def _assert_same(got: dict, want: dict) -> None:
    for name, value in want.items():
        if name == "weights":
            for index, (a, b) in enumerate(zip(got[name], value, strict=True)):
                np.testing.assert_array_equal(a, b, err_msg=f"array {index} of coefs_+intercepts_")
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.fixture
def train_outputs():
    """``train_outputs(clf, how, X, y)``: see :func:`_train`."""
    return _train


@pytest.fixture
def assert_same_outputs():
    """``assert_same_outputs(got, want)``: every output of two trainings bit for bit."""
    return _assert_same


@pytest.fixture
def trained_on(monkeypatch):
    """The X each fit hands to the training loop, in call order."""
    from softgrad.sklearn import _training

    seen = []
    real = _training.train

    def spy(est, train, *args, **kwargs):
        seen.append(train[0])
        return real(est, train, *args, **kwargs)

    monkeypatch.setattr(_training, "train", spy)
    return seen

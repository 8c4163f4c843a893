"""Ctrl-C during ``fit`` is raised at the end of the batch, where the weights, the optimizer's
step counts and every callback's record hold one and the same step (training.interrupts).

Raised where the signal came, it split a step: Adam's weights moved and its step count did not
(the next bias correction was another run's), SGD's folded step had updated one layer and not
the next. The signal is sent here from inside the step's own code (a trace of its lines), at
each of many points, as a real Ctrl-C would arrive.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import fit

OPTIMIZERS = {
    "adam": (lambda: Adam(lr=0.01), "optim/flat.py"),
    "sgd-folded": (lambda: SGD(lr=0.1), "training/folded_step.py"),
    "sgd-momentum-folded": (lambda: SGD(lr=0.1, momentum=0.9), "training/folded_step.py"),
}


def _data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(256, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


class _Record:
    """The weights after every batch; it only reads, so the steps stay the fast ones."""

    batch_hook_reads_only = True
    batch_hook_reads_grads = False

    def __init__(self, model):
        self.model = model
        self.after = [self._weights()]

    def _weights(self):
        return {k: v.copy() for k, v in self.model.named_params().items()}

    def on_batch_end(self, state):
        self.after.append(self._weights())


def _fit(model, optimizer, callbacks=()):
    X, y = _data()
    fit(
        model,
        CrossEntropyLoss(),
        optimizer,
        X,
        y,
        epochs=2,
        batch_size=32,
        rng=0,
        callbacks=callbacks,
    )


def _inside_fit(frame) -> bool:
    while frame is not None:
        code = frame.f_code
        if code.co_name == "fit" and code.co_filename.endswith("training/fit.py"):
            return True
        frame = frame.f_back
    return False


def _ctrl_c_at(module: str, event: int):
    """A trace that sends SIGINT at the ``event``-th line run in ``module`` inside fit
    (outside it, as in any program, Ctrl-C raises where it comes)."""
    seen = [0]

    def local(frame, kind, arg):
        if kind == "line" and _inside_fit(frame):
            seen[0] += 1
            if seen[0] == event:
                os.kill(os.getpid(), signal.SIGINT)
        return local

    def tracer(frame, kind, arg):
        return local if frame.f_code.co_filename.endswith(module) else None

    tracer.sent = lambda: seen[0] >= event
    return tracer


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_ctrl_c_inside_a_step_leaves_a_whole_step(name, python_ctrl_c):
    make, module = OPTIMIZERS[name]
    reference = build_mlp(6, [8], 2, rng=0)
    record = _Record(reference)
    _fit(reference, make(), [record])
    for event in range(5, 200, 13):
        model, optimizer = build_mlp(6, [8], 2, rng=0), make()
        sys.settrace(_ctrl_c_at(module, event))
        try:
            with pytest.raises(KeyboardInterrupt):
                _fit(model, optimizer)
        finally:
            sys.settrace(None)
        state = optimizer.state_dict()
        counts = {state[f"step.{key}"] for key in model.named_params()}
        assert len(counts) == 1, (event, counts)
        (done,) = counts
        weights = model.named_params()
        assert done >= 1 and all(
            np.array_equal(weights[k], record.after[done][k]) for k in weights
        ), (event, done)


@pytest.mark.parametrize("module", ["sklearn/_training.py", "training/early_stopping.py"])
def test_ctrl_c_inside_the_estimators_bookkeeping_leaves_it_whole(module, python_ctrl_c):
    # raised where it came, it left loss_curve_ an epoch longer than n_iter_, or early stopping
    # with some of the best weights put back and not the others

    from softgrad.sklearn import MLPClassifier

    X, y = _data()
    settings = {"hidden_layer_sizes": (8,), "max_iter": 12, "random_state": 0, "tol": 1e-9}
    settings.update(early_stopping=True, n_iter_no_change=3, validation_fraction=0.25)
    for event in range(3, 120, 7):
        clf, tracer = MLPClassifier(**settings), _ctrl_c_at(module, event)
        sys.settrace(tracer)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                clf.fit(X, y)
        finally:
            sys.settrace(None)
        interrupted = any("interrupted by user" in str(w.message) for w in caught)
        assert interrupted == tracer.sent(), event
        n = clf.n_iter_
        assert len(clf.loss_curve_) == n == len(clf.history_["loss"]), event
        assert len(clf.validation_scores_) == n and clf.t_ == n * int(len(y) * 0.75), event
        # the best epoch's weights, whole: its validation score is the best recorded
        assert clf.score(X, y) >= 0.0 and all(np.isfinite(w).all() for w in clf.coefs_)
